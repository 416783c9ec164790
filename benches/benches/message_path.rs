//! The software path of one 64-byte message: written and read back in one
//! thread through a 1 MiB ring, so no cache line crosses between cores and
//! no wake-up happens. What is left is what every message costs on top of
//! moving its lines: the copy API (`write_all` + `read_exact`) against the
//! zero-copy API (`reserve` + `commit`, `fill_buf` + `consume`).
//!
//! Run: `cargo bench -p faasin-benches --bench message_path`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::io::{BufRead, Read, Write};

fn message_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("message_path_64");
    let (mut r, mut w) = faasin::pipe(1 << 20).expect("ring");
    let mut msg = [7u8; 64];
    g.bench_function("write_all+read_exact", |b| {
        b.iter(|| {
            w.write_all(&msg).expect("write");
            r.read_exact(&mut msg).expect("read");
        })
    });
    g.bench_function("reserve+commit+fill_buf+consume", |b| {
        b.iter(|| {
            let mut grant = w.reserve(64).expect("reserve");
            grant[..64].copy_from_slice(&msg);
            grant.commit(64).expect("commit");
            let span = r.fill_buf().expect("fill_buf");
            msg.copy_from_slice(&span[..64]);
            r.consume(64);
        })
    });
    g.finish();
    // Every message came back: the ring is empty again.
    assert_eq!(r.available().expect("available"), 0);
}

criterion_group!(benches, message_path);
criterion_main!(benches);
