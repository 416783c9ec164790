//! `ring_setup`: what a stream costs to start, in one process: a new ring
//! each time, stream after stream on kept ring memory (`RingMemory`) with
//! new mappings, the same with kept mappings (as a warm function has them),
//! and an OS pipe for comparison. Each row: create the stream, open both
//! ends, move SIZE bytes through, close; median and range over rounds.
//!
//! Run: `cargo run --release -p faasin-benches --bin ring_setup [ROUNDS] [N]`
//! (defaults 5 rounds of 300 streams per row and size). Prints a table.

use faasin::{Reader, RingMemory, Writer};
use faasin_benches::{median, min_max};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::Instant;

const CAPACITY: usize = 1 << 20;
const SIZES: [usize; 2] = [1024, 1 << 20];

/// Moves `data` through a stream whose ends are `(r, w)`; a writer thread is
/// not needed: the ring holds the whole payload.
fn through(r: OwnedFd, w: OwnedFd, data: &[u8], out: &mut [u8]) {
    let mut w = Writer::from_fd(w).expect("write end");
    let mut r = Reader::from_fd(r).expect("read end");
    w.write_all(data).expect("write");
    drop(w);
    r.read_exact(&mut out[..data.len()]).expect("read");
}

fn per_stream_us(n: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let parse = |a: Option<String>, d: usize| a.map_or(d, |s| s.parse().unwrap_or(d));
    let rounds = parse(args.next(), 5).max(1);
    let n = parse(args.next(), 300).max(1);
    let data = vec![0x5Au8; CAPACITY];
    let mut out = vec![0u8; CAPACITY];
    let mem = RingMemory::new(CAPACITY).expect("ring memory");
    let mut rows: Vec<(String, usize, Vec<f64>)> = Vec::new();
    let mut add = |name: &str, size: usize, v: f64| match rows
        .iter_mut()
        .find(|r| r.0 == name && r.1 == size)
    {
        Some(r) => r.2.push(v),
        None => rows.push((name.to_string(), size, vec![v])),
    };
    // Each row: its name, the pass it runs in, and how it opens a stream.
    type Open<'a> = &'a dyn Fn() -> (OwnedFd, OwnedFd);
    let streams: [(&str, usize, Open); 4] = [
        ("new ring each time", 0, &|| {
            faasin::pipe_fds(CAPACITY).expect("ring")
        }),
        ("reused ring memory, new mappings", 0, &|| {
            mem.endpoints().expect("ends")
        }),
        ("OS pipe (F_SETPIPE_SZ 1 MiB)", 0, &|| {
            faasin_benches::big_pipe().expect("pipe")
        }),
        ("reused ring memory, kept mappings", 1, &|| {
            mem.endpoints().expect("ends")
        }),
    ];
    // Rows alternate within each round. Kept mappings are switched on for
    // the rest of the process (as `faasin::invocations()` does in a warm
    // function), so their row runs in a second pass, after the others.
    for pass in 0..2 {
        if pass == 1 {
            // SAFETY: no other thread runs yet in this process.
            unsafe {
                std::env::set_var(faasin::ENV_WARM, "1");
                std::env::set_var(faasin::handoff::ENV_SOCKET, "/nonexistent");
            }
            let _warm = faasin::invocations();
        }
        for _ in 0..rounds {
            for size in SIZES {
                let d = &data[..size];
                for (name, _, open) in streams.iter().filter(|s| s.1 == pass) {
                    let us = per_stream_us(n, || {
                        let (r, w) = open();
                        through(r, w, d, &mut out);
                    });
                    add(name, size, us);
                }
            }
        }
    }
    println!("{rounds} rounds of {n} streams per row and size; one process, 1 MiB rings\n");
    println!("| stream | payload | median us per stream | min-max |");
    println!("|---|---:|---:|---:|");
    for (name, size, v) in &rows {
        let (lo, hi) = min_max(v);
        println!(
            "| {name} | {} | {:.1} | {lo:.1}-{hi:.1} |",
            if *size >= 1 << 20 {
                format!("{} MiB", size >> 20)
            } else {
                format!("{} KiB", size >> 10)
            },
            median(v)
        );
    }
}
