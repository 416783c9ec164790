//! `RingMemory`: stream after stream on one ring's memory.

use faasin::{Reader, RingMemory, Writer};
use std::io::{ErrorKind, Read, Write};

#[test]
fn each_stream_on_reused_memory_starts_empty_and_carries_its_own_bytes() {
    let mem = RingMemory::new(4096).unwrap();
    for round in 0..5u8 {
        let (r, w) = mem.endpoints().unwrap();
        let mut w = Writer::from_fd(w).unwrap();
        let mut r = Reader::from_fd(r).unwrap();
        assert_eq!(r.available().unwrap(), 0, "round {round} starts empty");
        // More than the capacity, so the positions wrap and the old bytes
        // are overwritten while the stream runs.
        let data: Vec<u8> = (0..10_000u32).map(|i| (i as u8) ^ round).collect();
        let t = std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            data
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, t.join().unwrap(), "round {round}");
    }
}

#[test]
fn a_reader_that_left_early_does_not_break_the_next_stream() {
    let mem = RingMemory::new(4096).unwrap();
    let (r, w) = mem.endpoints().unwrap();
    let mut w = Writer::from_fd(w).unwrap();
    drop(Reader::from_fd(r).unwrap());
    assert_eq!(w.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    drop(w);

    let (r, w) = mem.endpoints().unwrap();
    let mut w = Writer::from_fd(w).unwrap();
    let mut r = Reader::from_fd(r).unwrap();
    w.write_all(b"fresh").unwrap();
    drop(w);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(got, "fresh");
}

#[test]
fn bytes_left_unread_by_the_last_stream_are_not_seen_by_the_next() {
    let mem = RingMemory::new(4096).unwrap();
    let (r, w) = mem.endpoints().unwrap();
    let mut w = Writer::from_fd(w).unwrap();
    w.write_all(b"stale bytes").unwrap();
    drop((w, Reader::from_fd(r).unwrap()));

    let (r, w) = mem.endpoints().unwrap();
    drop(Writer::from_fd(w).unwrap());
    let mut got = Vec::new();
    Reader::from_fd(r).unwrap().read_to_end(&mut got).unwrap();
    assert!(got.is_empty(), "{got:?}");
}
