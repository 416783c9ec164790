//! Throughput and round-trip latency between two processes, FAASIN against a
//! Linux pipe (default and 1 MiB), a unix stream socket and a bare
//! shared-memory ping-pong, all in one criterion run so that ratios hold on a
//! noisy machine. `python3 benches/report.py` prints the table with ratios.
//!
//! The child side is this same binary re-executed with `FAASIN_BENCH_CHILD`
//! set; fds 3.. carry the data path, a plain pipe pair carries "read N bytes"
//! orders and their acknowledgements (outside the timed data path only at the
//! start and end of a batch).

use criterion::{BenchmarkId, Criterion, Throughput};
use faasin::{Reader, Writer};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHILD: &str = "FAASIN_BENCH_CHILD";
const SIZES: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];
const RING: usize = 1 << 20;
/// A spin budget long enough that the spinning round trip never sleeps.
const SPIN_FOREVER: Duration = Duration::from_secs(3600);

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds from pipe2.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn big_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = pipe();
    // SAFETY: fcntl on our own pipe.
    let got = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    assert!(
        got >= 1 << 20,
        "F_SETPIPE_SZ to 1 MiB failed (fs.pipe-max-size?)"
    );
    (r, w)
}

fn unix_stream() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two fds.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: fresh fds.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn faasin_fds() -> (OwnedFd, OwnedFd) {
    faasin::pipe_fds(RING).unwrap()
}

/// A running child with its control pipes.
struct Peer {
    child: Child,
    orders: std::fs::File,
    acks: std::fs::File,
}

impl Peer {
    /// Starts the child in `role` with `fds` placed at 3, 4, ... in order.
    fn start(role: &str, fds: &[&OwnedFd], spin: Option<Duration>) -> Peer {
        let (order_r, order_w) = pipe();
        let (ack_r, ack_w) = pipe();
        let mut all: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        all.push(order_r.as_raw_fd());
        all.push(ack_w.as_raw_fd());
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(CHILD, role);
        if let Some(s) = spin {
            cmd.env("SPIN", s.as_nanos().to_string());
        }
        // SAFETY: only async-signal-safe dup/dup2 after fork. Sources are
        // first moved above 100 so that no dup2 target clobbers a source.
        unsafe {
            cmd.pre_exec(move || {
                let mut moved = Vec::with_capacity(all.len());
                for (i, fd) in all.iter().enumerate() {
                    let m = libc::fcntl(*fd, libc::F_DUPFD, 100 + i as libc::c_int);
                    if m < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    moved.push(m);
                }
                for (i, m) in moved.iter().enumerate() {
                    if libc::dup2(*m, 3 + i as libc::c_int) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        Peer {
            child,
            orders: order_w.into(),
            acks: ack_r.into(),
        }
    }

    fn order(&mut self, n: u64) {
        self.orders.write_all(&n.to_le_bytes()).unwrap();
    }

    fn wait_ack(&mut self) {
        let mut b = [0u8; 1];
        self.acks.read_exact(&mut b).unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.orders.write_all(&u64::MAX.to_le_bytes());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child side: fd 3.. are data, the last two are orders and acks.
fn child(role: &str) {
    let nfds = match role {
        "rtt-faasin" | "rtt-fd" => 2,
        "rtt-shm" => 1,
        _ => 1,
    };
    // SAFETY: the parent placed these fds for us; we own them now.
    let take = |fd: RawFd| unsafe { OwnedFd::from_raw_fd(fd) };
    let mut orders = std::fs::File::from(take(3 + nfds));
    let mut acks = std::fs::File::from(take(4 + nfds));
    let mut next_order = || {
        let mut b = [0u8; 8];
        orders.read_exact(&mut b).ok()?;
        Some(u64::from_le_bytes(b)).filter(|n| *n != u64::MAX)
    };
    match role {
        "sink-copy" | "sink-fd" => {
            let mut r = Reader::from_fd(take(3)).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            while let Some(mut n) = next_order() {
                while n > 0 {
                    let want = (n as usize).min(buf.len());
                    let k = r.read(&mut buf[..want]).unwrap();
                    assert!(k > 0, "early EOF");
                    n -= k as u64;
                }
                acks.write_all(b"k").unwrap();
            }
        }
        "sink-zero-copy" => {
            let mut r = Reader::from_fd(take(3)).unwrap();
            let mut fold = 0u64;
            while let Some(mut n) = next_order() {
                while n > 0 {
                    let span = r.fill_buf().unwrap();
                    let k = span.len().min(n as usize);
                    assert!(k > 0, "early EOF");
                    // Read every byte, as a consumer of the data would.
                    for c in span[..k].chunks(8) {
                        let mut w = [0u8; 8];
                        w[..c.len()].copy_from_slice(c);
                        fold ^= u64::from_ne_bytes(w);
                    }
                    r.consume(k);
                    n -= k as u64;
                }
                acks.write_all(&[fold as u8 | 1]).unwrap();
            }
        }
        "rtt-faasin" | "rtt-fd" => {
            let mut r = Reader::from_fd(take(3)).unwrap();
            let mut w = Writer::from_fd(take(4)).unwrap();
            let spin = std::env::var("SPIN")
                .ok()
                .map(|s| Duration::from_nanos(s.parse().unwrap()));
            if let Some(s) = spin {
                r.set_spin(s);
                w.set_spin(s);
            }
            let mut msg = [0u8; 64];
            while let Some(n) = next_order() {
                for _ in 0..n {
                    r.read_exact(&mut msg).unwrap();
                    w.write_all(&msg).unwrap();
                }
                acks.write_all(b"k").unwrap();
            }
        }
        "rtt-shm" => {
            let shm = Shm::open(take(3));
            while let Some(n) = next_order() {
                let base = shm.pong().load(Ordering::Acquire);
                for i in 1..=n {
                    while shm.ping().load(Ordering::Acquire) != base + i {
                        std::hint::spin_loop();
                    }
                    shm.pong().store(base + i, Ordering::Release);
                }
                acks.write_all(b"k").unwrap();
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Two cache lines in a shared memfd for the bare ping-pong.
struct Shm {
    ptr: *mut u8,
}

impl Shm {
    fn create() -> (Shm, OwnedFd) {
        // SAFETY: literal name, valid flags.
        let fd = unsafe { libc::memfd_create(c"pingpong".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: valid fd.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) }, 0);
        let shm = Shm::open(fd.try_clone().unwrap());
        (shm, fd)
    }
    fn open(fd: OwnedFd) -> Shm {
        // SAFETY: a new shared mapping of a 4096-byte memfd.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Shm { ptr: p.cast() }
    }
    fn ping(&self) -> &AtomicU64 {
        // SAFETY: offset 0 is inside the page-aligned 4096-byte mapping,
        // which lives for the whole process; AtomicU64 tolerates sharing.
        unsafe { &*self.ptr.cast::<AtomicU64>() }
    }
    fn pong(&self) -> &AtomicU64 {
        // SAFETY: offset 128 is inside the mapping and 8-aligned.
        unsafe { &*self.ptr.add(128).cast::<AtomicU64>() }
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    type Make = fn() -> (OwnedFd, OwnedFd);
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
                            let mut left = size;
                            while left > 0 {
                                let mut grant = w.reserve(1).unwrap();
                                let k = grant.len().min(left);
                                grant[..k].fill(i as u8);
                                grant.commit(k).unwrap();
                                left -= k;
                            }
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
    let mut g = c.benchmark_group("rtt64");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    type Make = fn() -> (OwnedFd, OwnedFd);
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

    let (shm, fd) = Shm::create();
    let mut peer = Peer::start("rtt-shm", &[&fd], None);
    g.bench_function("bare-shm-pingpong", |b| {
        b.iter_custom(|iters| {
            let base = shm.ping().load(Ordering::Relaxed);
            peer.order(iters);
            let start = Instant::now();
            for i in 1..=iters {
                shm.ping().store(base + i, Ordering::Release);
                while shm.pong().load(Ordering::Acquire) != base + i {
                    std::hint::spin_loop();
                }
            }
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
