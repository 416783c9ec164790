//! Copies between the ring and the caller's buffers.
//!
//! glibc copies blocks of a few KiB and up with `rep movsb`, which on AMD Zen
//! 3 (this project's benchmark machine) runs about twenty times slower when
//! the destination sits 1 to 63 bytes after the source modulo 4096: 64 KiB at
//! 1.6-2.1 GB/s instead of 25-40 GB/s (measured with glibc 2.36, see
//! BENCHMARKS.md). The ring's data area is page-aligned, and the buffers
//! runtimes hand us often sit just past a page start (glibc puts a 16-byte
//! header before every mmap-ed block, so a 1 MiB Python `bytearray` begins at
//! page + 16): a read at a page-aligned ring offset then lands exactly in
//! that window. Such copies take a plain vector loop instead, which runs at
//! full speed there; all others stay with `memcpy`.

/// Below this, glibc does not use `rep movsb`.
const SLOW_WINDOW_MIN_LEN: usize = 1024;

/// Copies `n` bytes from `src` to `dst`.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and the
/// two ranges must not overlap.
#[inline]
pub(crate) unsafe fn copy(src: *const u8, dst: *mut u8, n: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if n >= SLOW_WINDOW_MIN_LEN && in_slow_window(src, dst) {
        // SAFETY: the caller's contract, passed on.
        unsafe { copy_sse2(src, dst, n) };
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

/// Whether `dst` lies 1 to 63 bytes after `src` modulo 4096.
fn in_slow_window(src: *const u8, dst: *mut u8) -> bool {
    let d = (dst as usize).wrapping_sub(src as usize) & 4095;
    (1..64).contains(&d)
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

    #[test]
    fn window_is_one_to_sixty_three_bytes_after() {
        let base = 0x10_0000usize as *const u8;
        let at = |d: usize| base.wrapping_add(d) as *mut u8;
        assert!(!in_slow_window(base, at(0)));
        assert!(in_slow_window(base, at(1)));
        assert!(in_slow_window(base, at(16)));
        assert!(in_slow_window(base, at(4096 * 3 + 63)));
        assert!(!in_slow_window(base, at(64)));
        assert!(!in_slow_window(base, at(4096 - 16)));
    }

    #[test]
    fn copies_exactly_in_and_out_of_the_window() {
        // Source and destination inside one buffer, so that their distance
        // modulo 4096 is `shift` and both paths run.
        let mut buf: Vec<u8> = (0..12 * 4096).map(|i| (i * 7 + 3) as u8).collect();
        let page = buf.as_ptr().align_offset(4096);
        for len in [0, 1, 63, 64, 65, 1023, 1024, 1025, 4096 + 17, 2 * 4096] {
            for shift in [0usize, 1, 16, 31, 63, 64, 100] {
                let (s, d) = (page, page + 4 * 4096 + shift);
                assert_eq!(
                    in_slow_window(buf[s..].as_ptr(), buf[d..].as_mut_ptr()),
                    (1..64).contains(&shift)
                );
                buf[d - 1..d + len + 1].fill(0);
                let p = buf.as_mut_ptr();
                // SAFETY: [s, s + len) and [d, d + len) lie inside `buf`
                // and do not overlap (d >= s + 4 * 4096 > s + len).
                unsafe { copy(p.add(s), p.add(d), len) };
                assert!(
                    (0..len).all(|i| buf[d + i] == ((s + i) * 7 + 3) as u8),
                    "len {len} shift {shift}"
                );
                assert_eq!(buf[d - 1], 0);
                assert_eq!(buf[d + len], 0);
            }
        }
    }
}
