//! Throughput and round-trip latency between two processes, FAASIN against a
//! Linux pipe (default and 1 MiB), a unix stream socket and a bare
//! shared-memory ping-pong, all in one criterion run so that ratios hold on a
//! noisy machine. `python3 benches/report.py` prints the table with ratios.
//!
//! The child side is this same binary re-executed with `FAASIN_BENCH_CHILD`
//! set; fds 3.. carry the data path, a plain pipe pair carries "read N bytes"
//! orders and their acknowledgements (outside the timed data path only at the
//! start and end of a batch).

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use faasin::{Reader, Writer};
use faasin_benches::{self as fb, Shm};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

const CHILD: &str = "FAASIN_BENCH_CHILD";
const SIZES: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];
/// A spin budget long enough that the spinning round trip never sleeps.
const SPIN_FOREVER: Duration = Duration::from_secs(3600);

fn pipe() -> (OwnedFd, OwnedFd) {
    fb::pipe().unwrap()
}

fn big_pipe() -> (OwnedFd, OwnedFd) {
    fb::big_pipe().unwrap()
}

fn unix_stream() -> (OwnedFd, OwnedFd) {
    fb::unix_stream().unwrap()
}

fn faasin_fds() -> (OwnedFd, OwnedFd) {
    fb::faasin_fds().unwrap()
}

/// A running child with its control pipes; reaped when dropped.
struct Peer(Option<fb::Peer>);

impl Peer {
    /// Starts the child in `role` with `fds` placed at 3, 4, ... in order.
    fn start(role: &str, fds: &[&OwnedFd], spin: Option<Duration>) -> Peer {
        let env: Vec<(&str, String)> = spin
            .map(|s| ("SPIN", s.as_nanos().to_string()))
            .into_iter()
            .collect();
        Peer(Some(fb::Peer::start(CHILD, role, fds, &env).unwrap()))
    }

    fn order(&mut self, n: u64) {
        self.0.as_mut().unwrap().order(n).unwrap();
    }

    fn wait_ack(&mut self) {
        self.0.as_mut().unwrap().wait_ack().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.finish(Duration::from_secs(2));
        }
    }
}

/// Child side: fd 3.. are data, then the orders and acks pipes.
fn child(role: &str) {
    let mut side = fb::ChildSide::new();
    match role {
        "sink-copy" | "sink-fd" => {
            let mut r = Reader::from_fd(side.take(0)).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            while let Some(mut n) = side.next_order() {
                while n > 0 {
                    let want = (n as usize).min(buf.len());
                    let k = r.read(&mut buf[..want]).unwrap();
                    assert!(k > 0, "early EOF");
                    n -= k as u64;
                }
                side.ack(b'k');
            }
        }
        "sink-zero-copy" => {
            let mut r = Reader::from_fd(side.take(0)).unwrap();
            let mut fold = 0u64;
            while let Some(n) = side.next_order() {
                fold = fb::consume_in_place(&mut r, n, fold).unwrap();
                side.ack(fold as u8 | 1);
            }
        }
        "rtt-faasin" | "rtt-fd" => {
            let mut r = Reader::from_fd(side.take(0)).unwrap();
            let mut w = Writer::from_fd(side.take(1)).unwrap();
            let spin = std::env::var("SPIN")
                .ok()
                .map(|s| Duration::from_nanos(s.parse().unwrap()));
            if let Some(s) = spin {
                r.set_spin(s);
                w.set_spin(s);
            }
            let mut msg = [0u8; 64];
            while let Some(n) = side.next_order() {
                for _ in 0..n {
                    r.read_exact(&mut msg).unwrap();
                    w.write_all(&msg).unwrap();
                }
                side.ack(b'k');
            }
        }
        "rtt-shm" => {
            let shm = Shm::open(side.take(0)).unwrap();
            while let Some(n) = side.next_order() {
                shm.respond(n);
                side.ack(b'k');
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Makes a connected pair of fds: (read end, write end).
type Make = fn() -> (OwnedFd, OwnedFd);

/// A benchmark group with the sampling every group here uses.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g
}

fn throughput(c: &mut Criterion) {
    let mut g = group(c, "throughput");
    let transports: [(&str, Make, &str); 5] = [
        ("faasin-copy", faasin_fds, "sink-copy"),
        ("faasin-zero-copy", faasin_fds, "sink-zero-copy"),
        ("pipe", pipe, "sink-fd"),
        ("pipe-1MiB", big_pipe, "sink-fd"),
        ("unix-socket", unix_stream, "sink-fd"),
    ];
    // Sizes outermost, transports alternating inside: drift hits all alike.
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, make, role) in transports {
            let (rfd, wfd) = make();
            let mut peer = Peer::start(role, &[&rfd], None);
            drop(rfd);
            let mut w = Writer::from_fd(wfd).unwrap();
            let src = vec![0xA5u8; size];
            let zero_copy = name == "faasin-zero-copy";
            g.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| {
                    peer.order(iters * size as u64);
                    let start = Instant::now();
                    for i in 0..iters {
                        if zero_copy {
                            fb::produce_in_place(&mut w, size, i as u8).unwrap();
                        } else {
                            w.write_all(&src).unwrap();
                        }
                    }
                    peer.wait_ack();
                    start.elapsed()
                })
            });
        }
    }
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = group(c, "rtt64");
    let cases: [(&str, Make, Option<Duration>); 5] = [
        ("faasin-spinning", faasin_fds, Some(SPIN_FOREVER)),
        ("faasin-blocking", faasin_fds, Some(Duration::ZERO)),
        ("faasin-default-spin", faasin_fds, None),
        ("pipe", pipe, None),
        ("unix-socket", unix_stream, None),
    ];
    for (name, make, spin) in cases {
        let (to_child_r, to_child_w) = make();
        let (to_parent_r, to_parent_w) = make();
        let role = if name.starts_with("faasin") {
            "rtt-faasin"
        } else {
            "rtt-fd"
        };
        let mut peer = Peer::start(role, &[&to_child_r, &to_parent_w], spin);
        drop((to_child_r, to_parent_w));
        let mut w = Writer::from_fd(to_child_w).unwrap();
        let mut r = Reader::from_fd(to_parent_r).unwrap();
        if let Some(s) = spin {
            w.set_spin(s);
            r.set_spin(s);
        }
        let mut msg = [7u8; 64];
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                peer.order(iters);
                let start = Instant::now();
                for _ in 0..iters {
                    w.write_all(&msg).unwrap();
                    r.read_exact(&mut msg).unwrap();
                }
                let t = start.elapsed();
                peer.wait_ack();
                t
            })
        });
    }

    let (shm, fd) = Shm::create().unwrap();
    let mut peer = Peer::start("rtt-shm", &[&fd], None);
    g.bench_function("bare-shm-pingpong", |b| {
        b.iter_custom(|iters| {
            peer.order(iters);
            let start = Instant::now();
            shm.initiate(iters);
            let t = start.elapsed();
            peer.wait_ack();
            t
        })
    });
    g.finish();
}

fn main() {
    if let Ok(role) = std::env::var(CHILD) {
        child(&role);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    round_trip(&mut c);
    c.final_summary();
}
