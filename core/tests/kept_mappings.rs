//! A warm function keeps the mappings of its closed ends and uses them again
//! for the next stream on the same ring memory. Its own test binary: keeping
//! is process-wide, switched on by `faasin::invocations()` in warm mode.

use faasin::{Reader, RingMemory, Writer};
use std::io::{Read, Write};

/// Mappings of ring memfds in this process (each end maps its ring as one
/// range plus a mirror: two lines of /proc/self/maps).
fn ring_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("faasin-ring"))
        .count()
}

fn stream(mem: &RingMemory, data: &[u8]) -> Vec<u8> {
    let (r, w) = mem.endpoints().unwrap();
    let mut w = Writer::from_fd(w).unwrap();
    let mut r = Reader::from_fd(r).unwrap();
    let owned = data.to_vec();
    let t = std::thread::spawn(move || w.write_all(&owned).unwrap());
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    got
}

#[test]
fn kept_mappings_are_used_again_and_bounded() {
    // SAFETY: set_var is unsound only while another thread reads the
    // environment; this binary has only this test, and no thread runs yet.
    unsafe {
        std::env::set_var("FAASIN_WARM", "1");
        std::env::set_var("FAASIN_SOCKET", "/nonexistent/faasin.sock");
    }
    // Switches keeping on; the iteration itself is never started.
    let _warm = faasin::invocations();
    assert_eq!(ring_mappings(), 0);

    let mem = RingMemory::new(1 << 16).unwrap();
    for round in 0..20u8 {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i as u8).wrapping_mul(round | 1))
            .collect();
        assert_eq!(stream(&mem, &data), data, "round {round}");
        // Both ends' mappings were kept and used again: no more than the
        // first stream's two (each two lines).
        assert_eq!(ring_mappings(), 4, "round {round}");
    }

    // Many different rings: the kept ones stay at the bound (8 mappings).
    let mems: Vec<RingMemory> = (0..12).map(|_| RingMemory::new(1 << 16).unwrap()).collect();
    for m in &mems {
        assert_eq!(stream(m, b"hello"), b"hello");
        assert!(ring_mappings() <= 2 * 8, "{} lines", ring_mappings());
    }
    assert_eq!(ring_mappings(), 2 * 8);
}
