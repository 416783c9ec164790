//! The one byte copy between the ring and Java memory (arrays and direct
//! buffers), in both directions, through core's `faasin::copy_bytes`.
//!
//! Why not just `memcpy`: glibc copies large blocks with `rep movsb`, which
//! on some CPUs (AMD Zen 3) runs many times slower when the destination
//! starts 1 to 31 bytes after the source modulo 4 KiB. Java makes that case
//! common rather than rare: the ring's spans start at page offsets that are
//! multiples of the chunk size (often 0), and a large `byte[]` starts 16
//! bytes past a GC region boundary, so reading large chunks into a large
//! array hit it on every call.

/// Copies `n` bytes from `src` to `dst` at full speed whatever their
/// relative alignment.
///
/// # Safety
/// As for [`std::ptr::copy_nonoverlapping`]: `src` valid for reading and
/// `dst` for writing `n` bytes, and the two ranges do not overlap.
pub(crate) unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    if n == 0 {
        // Slices need non-null pointers, which an empty copy may not have.
        return;
    }
    // SAFETY: the caller's contract: valid, non-overlapping, n bytes each.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(src, n),
            std::slice::from_raw_parts_mut(dst, n),
        )
    };
    faasin::copy_bytes(dst, src);
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
