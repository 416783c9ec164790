//! The one byte copy between the ring and Java memory (arrays and direct
//! buffers), in both directions.
//!
//! Why not just `memcpy`: glibc copies large blocks with `rep movsb`, which on
//! AMD Zen 3 runs at about 2 GB/s instead of 30+ when the destination starts
//! 1 to 31 bytes after the source modulo 4 KiB (measured on this project's
//! machine: 128 KiB, distance 16: 1.9 GB/s; distance 33: 29 GB/s). Java makes
//! that case common rather than rare: the ring's spans start at page offsets
//! that are multiples of the chunk size (often 0), and a large `byte[]` starts
//! 16 bytes past a GC region boundary, so reading 1 MiB chunks into a 1 MiB
//! array hit it on every call. Copying backwards has no such pattern: each
//! load then looks like a later store, never an earlier one.

/// Distances (destination minus source, modulo 4 KiB) that forward copies
/// handle badly; wider than the measured 1..=31 to leave a margin.
const BAD_DISTANCE: std::ops::Range<usize> = 1..64;

/// Copies shorter than this are not worth the check (glibc uses plain
/// vector moves for them).
const MIN_CHECKED: usize = 64;

/// Copies `n` bytes from `src` to `dst` at full speed whatever their
/// relative alignment.
///
/// # Safety
/// As for [`std::ptr::copy_nonoverlapping`]: `src` valid for reading and
/// `dst` for writing `n` bytes, and the two ranges do not overlap.
pub(crate) unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    let distance = (dst as usize).wrapping_sub(src as usize) % 4096;
    if n >= MIN_CHECKED && BAD_DISTANCE.contains(&distance) {
        // SAFETY: same contract as ours.
        unsafe { copy_backward(src, dst, n) }
    } else {
        // SAFETY: same contract as ours.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, n) }
    }
}

/// Copies 64-byte blocks from the end down, then the head.
///
/// # Safety
/// As for [`copy_bytes`].
#[inline(never)]
unsafe fn copy_backward(src: *const u8, dst: *mut u8, n: usize) {
    type Block = [u8; 64];
    let mut i = n;
    while i >= std::mem::size_of::<Block>() {
        i -= std::mem::size_of::<Block>();
        // SAFETY: [i, i + 64) lies within both ranges (i + 64 <= n), which
        // do not overlap; unaligned reads and writes of a byte array are
        // fine at any address.
        unsafe {
            let block = std::ptr::read_unaligned(src.add(i).cast::<Block>());
            std::ptr::write_unaligned(dst.add(i).cast::<Block>(), block);
        }
    }
    // SAFETY: the first i (< 64) bytes of both ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, i) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the block size, at every distance that takes
    /// either path, copies exactly the bytes asked for.
    #[test]
    fn copies_exactly_at_every_distance() {
        let src: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut dst = vec![0u8; 24_576];
        let base = dst.as_ptr() as usize;
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 4095, 4096, 4097, 16_411] {
            for distance in [0usize, 1, 8, 16, 31, 32, 63, 64, 65, 2048, 4080, 4095] {
                // Place dst so that (dst - from) % 4096 == distance.
                let from = src[3..].as_ptr() as usize;
                let want = (from + distance) % 4096;
                let start = (want + 4096 - base % 4096) % 4096;
                dst.fill(0xEE);
                let d = &mut dst[start..start + len];
                assert_eq!((d.as_ptr() as usize).wrapping_sub(from) % 4096, distance);
                // SAFETY: distinct Vecs, both at least len long from here.
                unsafe { copy_bytes(src[3..].as_ptr(), d.as_mut_ptr(), len) };
                assert_eq!(
                    &dst[start..start + len],
                    &src[3..3 + len],
                    "len {len} distance {distance}"
                );
                assert!(
                    dst[..start].iter().all(|&b| b == 0xEE),
                    "wrote before, len {len}"
                );
                assert!(
                    dst[start + len..].iter().all(|&b| b == 0xEE),
                    "wrote after, len {len}"
                );
            }
        }
    }
}
