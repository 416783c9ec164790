//! Copies between the ring and the caller's buffers.
//!
//! Every copy of 1 KiB or more takes a plain vector loop (AVX2 when the CPU
//! has it, SSE2 otherwise) instead of glibc's `memcpy`, which moves such
//! blocks with `rep movsb`. On some CPUs (AMD Zen 3 among them) `rep movsb`
//! is slow in two cases that the ring meets all the time:
//!
//! - when the destination sits 1 to 63 bytes after the source modulo 4096.
//!   The ring's data area is page-aligned and runtimes' large buffers begin
//!   just past a page start (glibc's mmap-ed blocks at page + 16), so a read
//!   at a page-aligned ring offset lands exactly there;
//! - when the source lines were just written by the other CPU, which is what
//!   a reader copies out of the ring: there its speed varies from run to
//!   run, and the loop's does not.
//!
//! Below 1 KiB glibc does not use `rep movsb`, and `memcpy` stays.

/// From this length on, copies take the vector loop.
#[cfg(all(target_arch = "x86_64", not(miri)))]
const LOOP_MIN_LEN: usize = 1024;

/// Copies `n` bytes from `src` to `dst`.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and the
/// two ranges must not overlap.
#[inline]
pub(crate) unsafe fn copy(src: *const u8, dst: *mut u8, n: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if n >= LOOP_MIN_LEN {
        // `is_x86_feature_detected!` caches its answer: after the first call
        // this is one relaxed load.
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the caller's contract, passed on; the CPU has AVX2.
            unsafe { copy_avx2(src, dst, n) };
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { copy_sse2(src, dst, n) };
        }
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
}

/// `dst.copy_from_slice(src)`, but around glibc's slow `rep movsb` case
/// described in this module: for bindings that copy ring bytes into their
/// runtime's buffers (or back) themselves.
///
/// # Panics
/// If the two slices differ in length, as `copy_from_slice` does.
pub fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "copy_bytes: destination and source lengths differ"
    );
    // SAFETY: both slices hold len bytes; a `&mut` cannot overlap a `&`.
    unsafe { copy(src.as_ptr(), dst.as_mut_ptr(), src.len()) };
}

/// 128 bytes per step with AVX2: unaligned loads, and stores aligned to 32
/// bytes after one unaligned head store (a store that straddles two cache
/// lines costs two). The tail is one more unaligned 32-byte store per 32
/// bytes, the last of which ends exactly at `dst + n` and may write some
/// bytes again (with the same values).
///
/// # Safety
/// As for [`copy`], plus `n >= 64` and a CPU with AVX2.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx2")]
unsafe fn copy_avx2(src: *const u8, dst: *mut u8, n: usize) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_store_si256, _mm256_storeu_si256};
    debug_assert!(n >= 64);
    let load = |off: usize| {
        // SAFETY: every caller below passes off + 32 <= n.
        unsafe { _mm256_loadu_si256(src.add(off).cast::<__m256i>()) }
    };
    // Every store below writes 32 bytes at dst + off with off + 32 <= n, so
    // inside the destination; `_mm256_store_si256` only where dst + off is
    // 32-byte aligned.
    // SAFETY: off = 0 and n >= 64.
    unsafe { _mm256_storeu_si256(dst.cast::<__m256i>(), load(0)) };
    let mut off = 32 - (dst as usize & 31);
    while off + 128 <= n {
        let (a, b, c, d) = (load(off), load(off + 32), load(off + 64), load(off + 96));
        let p = dst.wrapping_add(off).cast::<__m256i>();
        // SAFETY: see above; p is 32-byte aligned.
        unsafe {
            _mm256_store_si256(p, a);
            _mm256_store_si256(p.add(1), b);
            _mm256_store_si256(p.add(2), c);
            _mm256_store_si256(p.add(3), d);
        }
        off += 128;
    }
    while off + 32 <= n {
        // SAFETY: see above; dst + off is 32-byte aligned.
        unsafe { _mm256_store_si256(dst.add(off).cast::<__m256i>(), load(off)) };
        off += 32;
    }
    if off < n {
        // SAFETY: see above, with off = n - 32 (n >= 64).
        unsafe { _mm256_storeu_si256(dst.add(n - 32).cast::<__m256i>(), load(n - 32)) };
    }
}

/// 64 bytes per step with unaligned SSE2 loads and stores (SSE2 is part of
/// every x86_64 CPU).
///
/// # Safety
/// As for [`copy`].
#[cfg(all(target_arch = "x86_64", not(miri)))]
unsafe fn copy_sse2(mut src: *const u8, mut dst: *mut u8, mut n: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    while n >= 64 {
        // SAFETY: 64 more bytes are valid in both ranges; the loads and
        // stores are the unaligned kind.
        unsafe {
            let s = src.cast::<__m128i>();
            let d = dst.cast::<__m128i>();
            let a = _mm_loadu_si128(s);
            let b = _mm_loadu_si128(s.add(1));
            let c = _mm_loadu_si128(s.add(2));
            let e = _mm_loadu_si128(s.add(3));
            _mm_storeu_si128(d, a);
            _mm_storeu_si128(d.add(1), b);
            _mm_storeu_si128(d.add(2), c);
            _mm_storeu_si128(d.add(3), e);
            src = src.add(64);
            dst = dst.add(64);
        }
        n -= 64;
    }
    // SAFETY: the last n < 64 bytes of both ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies `len` bytes from `src_off` to `dst_off` of one buffer with `f`
    /// and checks the copy and the bytes on either side of it.
    fn check(f: unsafe fn(*const u8, *mut u8, usize), src_off: usize, dst_off: usize, len: usize) {
        let mut buf: Vec<u8> = (0..40 * 1024).map(|i| (i * 7 + 3) as u8).collect();
        let page = buf.as_ptr().align_offset(4096);
        let (s, d) = (page + src_off, page + 16 * 1024 + dst_off);
        assert!(s + len <= d && d + len < buf.len());
        buf[d - 1..d + len + 1].fill(0);
        let p = buf.as_mut_ptr();
        // SAFETY: [s, s + len) and [d, d + len) lie inside `buf` and do not
        // overlap (asserted above).
        unsafe { f(p.add(s), p.add(d), len) };
        assert!(
            (0..len).all(|i| buf[d + i] == ((s + i) * 7 + 3) as u8),
            "len {len} src +{src_off} dst +{dst_off}"
        );
        assert_eq!(buf[d - 1], 0, "byte before, len {len}");
        assert_eq!(buf[d + len], 0, "byte after, len {len}");
    }

    const LENS: [usize; 12] = [
        64,
        65,
        95,
        127,
        128,
        129,
        1023,
        1024,
        1025,
        4096 + 17,
        8191,
        12288,
    ];
    const OFFS: [usize; 7] = [0, 1, 16, 31, 32, 63, 100];

    #[test]
    fn copy_is_exact_at_every_length_and_alignment() {
        for len in [0, 1, 31, 32, 33, 63].into_iter().chain(LENS) {
            for so in OFFS {
                for dof in OFFS {
                    check(copy, so, dof, len);
                }
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[test]
    fn both_loops_are_exact_at_every_length_and_alignment() {
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        for len in LENS {
            for so in OFFS {
                for dof in OFFS {
                    check(copy_sse2, so, dof, len);
                    if avx2 {
                        check(copy_avx2, so, dof, len);
                    }
                }
            }
        }
    }
}
