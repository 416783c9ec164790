//! `rtt_blocking`: the blocking 64-byte round trip through FAASIN against a
//! pipe, a unix socket and a bare doorbell (the floor of a shared-memory
//! transport that sleeps in the kernel, see `BareTx`), measured side by
//! side, and FAASIN with its default spin beside them. One child process
//! answers all of them; the parent alternates a block of each, round after
//! round, so that every per-round ratio compares blocks that ran within
//! milliseconds of each other, in one host state.
//!
//! Every message carries the CPU its sender ran on when it sent it, and its
//! receiver notes whether it woke on that same CPU. On two vCPUs a kernel
//! wake-up across CPUs costs tens of microseconds, while a wake-up that the
//! scheduler places on the waker's CPU, which is about to sleep, costs a
//! context switch: the share of such wake-ups explains most of a
//! transport's blocking round trip here.
//!
//! With `pinned` as the third argument the parent runs on CPU 0 and the
//! child on CPU 1, so that every wake-up crosses CPUs.
//!
//! Run: `cargo run --release -p faasin-benches --bin rtt_blocking [ROUNDS] [N] [pinned]`
//! (defaults 40 rounds of 2000 round trips per block). Prints a table.

use faasin::{Reader, Writer};
use faasin_benches::{self as fb, host_state};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROLE: &str = "FAASIN_RTT_BLOCKING_ROLE";
/// What each block runs through, in the order of the table.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Without spinning: every wait sleeps, as the others' do.
    FaasinNoSpin,
    Pipe,
    UnixSocket,
    /// With its default options: a wait spins a little first (adaptively).
    FaasinDefault,
    /// The least a shared-memory transport does that makes no system call
    /// for a peer that is awake (see `BareTx`): the floor.
    Bare,
}

const KINDS: [Kind; 5] = [
    Kind::FaasinNoSpin,
    Kind::Pipe,
    Kind::UnixSocket,
    Kind::FaasinDefault,
    Kind::Bare,
];

/// The per-round ratios the table shows: (numerator, denominator).
const RATIOS: [(Kind, Kind); 5] = [
    (Kind::FaasinNoSpin, Kind::Pipe),
    (Kind::FaasinNoSpin, Kind::UnixSocket),
    (Kind::FaasinNoSpin, Kind::Bare),
    (Kind::Bare, Kind::Pipe),
    (Kind::FaasinDefault, Kind::Pipe),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::FaasinNoSpin => "FAASIN, no spin",
            Kind::Pipe => "pipe",
            Kind::UnixSocket => "unix socket",
            Kind::FaasinDefault => "FAASIN, default spin",
            Kind::Bare => "bare doorbell",
        }
    }

    /// Its place in `KINDS` and in orders to the child.
    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap()
    }

    /// Two fd pairs for it: (to child, to parent), each (read, write). The
    /// bare doorbell rings a pipe; its memory is the shared page.
    fn fds(self) -> io::Result<((OwnedFd, OwnedFd), (OwnedFd, OwnedFd))> {
        let make = match self {
            Kind::FaasinNoSpin | Kind::FaasinDefault => fb::faasin_fds,
            Kind::Pipe | Kind::Bare => fb::pipe,
            Kind::UnixSocket => fb::unix_stream,
        };
        Ok((make()?, make()?))
    }
}

/// One transport's two directions, as the parent or the child holds them.
struct Duplex<'a> {
    r: Box<dyn Read + 'a>,
    w: Box<dyn Write + 'a>,
}

impl<'a> Duplex<'a> {
    /// `shm` is the bare doorbell's memory, `to_child` says which way `w`
    /// goes.
    fn new(
        kind: Kind,
        r: OwnedFd,
        w: OwnedFd,
        shm: &'a fb::Shm,
        to_child: bool,
    ) -> io::Result<Duplex<'a>> {
        let (r, w): (Box<dyn Read + 'a>, Box<dyn Write + 'a>) = match kind {
            Kind::Bare => {
                let (rx, tx) = if to_child { (1, 0) } else { (0, 1) };
                let r = BareRx {
                    dir: dir(shm, rx),
                    bell: File::from(r),
                    seen: 0,
                };
                let w = BareTx {
                    dir: dir(shm, tx),
                    bell: File::from(w),
                    sent: 0,
                };
                (Box::new(r), Box::new(w))
            }
            Kind::FaasinNoSpin | Kind::FaasinDefault => {
                let mut r = Reader::from_fd(r)?;
                let mut w = Writer::from_fd(w)?;
                if kind == Kind::FaasinNoSpin {
                    r.set_spin(Duration::ZERO);
                    w.set_spin(Duration::ZERO);
                }
                (Box::new(r), Box::new(w))
            }
            Kind::Pipe | Kind::UnixSocket => (Box::new(File::from(r)), Box::new(File::from(w))),
        };
        Ok(Duplex { r, w })
    }

    /// Sends `msg` stamped with our CPU.
    fn send(&mut self, msg: &mut [u8; 64]) -> io::Result<()> {
        msg[0] = cpu();
        self.w.write_all(msg)
    }

    /// Receives a message into `msg`; says whether we run on the CPU its
    /// sender stamped.
    fn receive(&mut self, msg: &mut [u8; 64]) -> io::Result<bool> {
        self.r.read_exact(msg)?;
        Ok(msg[0] == cpu())
    }
}

/// One direction of the bare doorbell: a position, a waiting flag and a
/// 64-byte payload, each on its own 128 bytes of the benchmarks' shared page.
#[derive(Clone, Copy)]
struct Dir<'a> {
    pos: &'a AtomicU64,
    waiting: &'a AtomicU32,
    payload: &'a [AtomicU64; 8],
}

/// Direction `d` (0: to the child, 1: back).
fn dir(shm: &fb::Shm, d: usize) -> Dir<'_> {
    let base = fb::Shm::FREE + d * 384;
    Dir {
        pos: shm.at(base),
        waiting: shm.at(base + 128),
        payload: shm.at(base + 256),
    }
}

/// The sending side of a bare doorbell: stores the payload and the new
/// position, then rings the pipe only if the receiver armed its flag. This
/// is FAASIN's wake-up protocol with nothing around it: no ring, no
/// validation, no hang-up, one message at a time.
struct BareTx<'a> {
    dir: Dir<'a>,
    bell: File,
    sent: u64,
}

impl Write for BareTx<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        assert_eq!(buf.len(), 64, "the bare doorbell moves 64-byte messages");
        for (w, b) in self.dir.payload.iter().zip(buf.chunks(8)) {
            w.store(u64::from_le_bytes(b.try_into().unwrap()), Ordering::Relaxed);
        }
        self.sent += 1;
        // Release: pairs with the Acquire loads of `pos` in `BareRx::read`.
        self.dir.pos.store(self.sent, Ordering::Release);
        // AcqRel swap: pairs with the receiver's arming swap, as in FAASIN's
        // ring (a Dekker pattern on read-modify-writes).
        if self.dir.waiting.swap(0, Ordering::AcqRel) != 0 {
            self.bell.write_all(&[1])?;
        }
        Ok(64)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The receiving side: looks at the position, arms its flag, looks again,
/// and sleeps in a `read` of the pipe.
struct BareRx<'a> {
    dir: Dir<'a>,
    bell: File,
    seen: u64,
}

impl Read for BareRx<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert_eq!(buf.len(), 64, "the bare doorbell moves 64-byte messages");
        let next = self.seen + 1;
        // Acquire: pairs with the Release store of `pos` in `BareTx::write`.
        while self.dir.pos.load(Ordering::Acquire) != next {
            // AcqRel swaps: pair with the sender's swap.
            self.dir.waiting.swap(1, Ordering::AcqRel);
            if self.dir.pos.load(Ordering::Acquire) == next {
                self.dir.waiting.swap(0, Ordering::AcqRel);
                break;
            }
            let mut b = [0u8; 64];
            if self.bell.read(&mut b)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        for (w, b) in self.dir.payload.iter().zip(buf.chunks_mut(8)) {
            b.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        self.seen = next;
        Ok(64)
    }
}

fn cpu() -> u8 {
    // SAFETY: no arguments; reads the calling thread's state.
    unsafe { libc::sched_getcpu() as u8 }
}

/// Orders carry the kind in their lowest three bits.
fn child() {
    let mut side = fb::ChildSide::new();
    if std::env::var_os("PINNED").is_some() {
        host_state::pin_to(1).expect("pin the child to CPU 1");
    }
    let shm = fb::Shm::open(side.take(2 * KINDS.len())).expect("map the bare doorbell's page");
    let mut ends: Vec<Duplex> = KINDS
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            Duplex::new(*kind, side.take(2 * k), side.take(2 * k + 1), &shm, false)
                .expect("open the ends")
        })
        .collect();
    let mut msg = [0u8; 64];
    side.ack(b'r');
    while let Some(order) = side.next_order() {
        let (n, kind) = (order >> 3, (order & 7) as usize);
        let mut same = 0u64;
        let d = &mut ends[kind];
        for _ in 0..n {
            same += d.receive(&mut msg).expect("read") as u64;
            d.send(&mut msg).expect("write");
        }
        // The share of same-CPU wake-ups, in percent, is the acknowledgement.
        side.ack((same * 100 / n.max(1)) as u8);
    }
}

fn main() -> std::process::ExitCode {
    fb::main_or_child(ROLE, "rtt_blocking", child, run)
}

fn run() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(40), |s| s.parse()).map_err(bad)?;
    let n: u64 = args.next().map_or(Ok(2000), |s| s.parse()).map_err(bad)?;
    let pinned = match args.next().as_deref() {
        None => false,
        Some("pinned") => true,
        Some(other) => return Err(bad(format!("unknown mode {other:?}"))),
    };
    if rounds < 2 || n == 0 {
        return Err(bad("need at least 2 rounds and 1 round trip per block"));
    }
    if pinned {
        host_state::pin_to(0)?;
    }

    let (shm, shm_fd) = fb::Shm::create()?;
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for kind in KINDS {
        let ((to_child_r, to_child_w), (to_parent_r, to_parent_w)) = kind.fds()?;
        theirs.push(to_child_r);
        theirs.push(to_parent_w);
        mine.push(Duplex::new(kind, to_parent_r, to_child_w, &shm, true)?);
    }
    theirs.push(shm_fd);
    let env: &[(&str, String)] = if pinned {
        &[("PINNED", String::new())]
    } else {
        &[]
    };
    let refs: Vec<&OwnedFd> = theirs.iter().collect();
    let mut peer = fb::Peer::start(ROLE, "rtt-blocking", &refs, env)?;
    drop(theirs);
    peer.wait_ack()?;

    let mut msg = [7u8; 64];
    // One block of `kind`: microseconds per round trip, and the share (%)
    // of our own wake-ups and of the child's that landed on the waker's CPU.
    let mut block = |kind: usize| -> io::Result<(f64, f64)> {
        peer.order((n << 3) | kind as u64)?;
        let d = &mut mine[kind];
        let mut same = 0u64;
        let start = Instant::now();
        for _ in 0..n {
            d.send(&mut msg)?;
            same += d.receive(&mut msg)? as u64;
        }
        let t = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        let theirs = peer.wait_ack()? as u64;
        Ok((t, (same * 100 / n + theirs) as f64 / 2.0))
    };
    // One untimed round: page faults, the reader's move to its pipe.
    for kind in 0..KINDS.len() {
        block(kind)?;
    }
    // Per kind, per round: microseconds and the share of same-CPU wake-ups.
    let mut us: [Vec<f64>; KINDS.len()] = Default::default();
    let mut on_waker_cpu: [Vec<f64>; KINDS.len()] = Default::default();
    for i in 0..rounds {
        // Rotate which kind goes first, so that none always runs first.
        for k in 0..KINDS.len() {
            let kind = (i + k) % KINDS.len();
            let (t, share) = block(kind)?;
            us[kind].push(t);
            on_waker_cpu[kind].push(share);
        }
    }
    peer.finish(Duration::from_secs(2));

    let where_ = if pinned {
        "parent on CPU 0, child on CPU 1"
    } else {
        "unpinned"
    };
    println!("{rounds} rounds of {n} blocking 64-byte round trips of each kind, {where_}\n");
    println!("| | median us | quartiles | min-max | wake-ups on the waker's CPU (mean %) |");
    println!("|---|---:|---:|---:|---:|");
    for (k, kind) in KINDS.iter().enumerate() {
        let (q1, q3) = quartiles(&us[k]);
        let (lo, hi) = fb::min_max(&us[k]);
        let mean = on_waker_cpu[k].iter().sum::<f64>() / rounds as f64;
        println!(
            "| {} | {:.1} | {q1:.1}-{q3:.1} | {lo:.1}-{hi:.1} | {mean:.0} |",
            kind.name(),
            fb::median(&us[k])
        );
    }
    for (a, b) in RATIOS {
        let (x, y) = (&us[a.index()], &us[b.index()]);
        let ratio: Vec<f64> = x.iter().zip(y).map(|(x, y)| x / y).collect();
        let (q1, q3) = quartiles(&ratio);
        let (lo, hi) = fb::min_max(&ratio);
        println!(
            "| {} / {}, per round | {:.3}x | {q1:.3}-{q3:.3} | {lo:.3}-{hi:.3} | |",
            a.name(),
            b.name(),
            fb::median(&ratio)
        );
    }
    Ok(())
}

fn quartiles(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 4], s[(3 * s.len()) / 4])
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{e} (usage: rtt_blocking [ROUNDS] [N] [pinned])"),
    )
}
