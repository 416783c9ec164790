//! `rtt_pair`: the spinning 64-byte round trip through FAASIN against a bare
//! shared-memory ping-pong of a cache line, measured side by side: one child
//! process answers both, and the parent alternates a block of each, round
//! after round, so that both sides of every ratio ran within milliseconds
//! of each other. Two more kinds, also alternated, are the least a ring
//! must do for a 64-byte message: a bare ping-pong that writes a 64-byte
//! payload line and then a counter line, so that the reader waits on one
//! line and then reads the other; and the same with the payload moving to
//! the next line for every message, through 1 MiB per direction, as it
//! does through a ring's data. The host moves these vCPUs between "near" and "far"
//! states (a bare round trip of ~120 ns or ~450 ns) every few seconds; the
//! criterion bench measures the two rows seconds apart and its ratio jumps
//! with the state, the per-round ratio does not.
//!
//! Run: `cargo run --release -p faasin-benches --bin rtt_pair [ROUNDS] [N]`
//! (defaults 60 rounds of 20 000 round trips per block). Prints a table.

use faasin::{Reader, Writer};
use faasin_benches as fb;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const ROLE: &str = "FAASIN_RTT_PAIR_ROLE";
/// Long enough that no wait of a spinning round trip ever sleeps.
const SPIN_FOREVER: Duration = Duration::from_secs(10);
/// Orders carry the block kind in their lowest two bits.
const BARE: u64 = 0;
const RING: u64 = 1;
const MSG: u64 = 2;
const ROTATING: u64 = 3;

fn child() {
    let mut side = fb::ChildSide::new();
    let mut r = Reader::from_fd(side.take(0)).expect("faasin read end");
    let mut w = Writer::from_fd(side.take(1)).expect("faasin write end");
    let shm = fb::Shm::open(side.take(2)).expect("map the ping-pong page");
    r.set_spin(SPIN_FOREVER);
    w.set_spin(SPIN_FOREVER);
    let mut msg = [0u8; 64];
    side.ack(b'r');
    while let Some(order) = side.next_order() {
        let n = order >> 2;
        match order & 3 {
            RING => {
                for _ in 0..n {
                    r.read_exact(&mut msg).expect("read");
                    w.write_all(&msg).expect("write");
                }
            }
            MSG => shm.respond_msg(n, false),
            ROTATING => shm.respond_msg(n, true),
            _ => shm.respond(n),
        }
        side.ack(b'k');
    }
}

fn quartiles(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 4], s[(3 * s.len()) / 4])
}

fn main() -> std::process::ExitCode {
    fb::main_or_child(ROLE, "rtt_pair", child, run)
}

fn run() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(60), |s| s.parse()).map_err(bad)?;
    let n: u64 = args.next().map_or(Ok(20_000), |s| s.parse()).map_err(bad)?;
    if rounds < 2 || n == 0 {
        return Err(bad("need at least 2 rounds and 1 round trip per block"));
    }

    let (to_child_r, to_child_w) = fb::faasin_fds()?;
    let (to_parent_r, to_parent_w) = fb::faasin_fds()?;
    let (shm, shm_fd) = fb::Shm::create()?;
    let mut peer = fb::Peer::start(ROLE, "pair", &[&to_child_r, &to_parent_w, &shm_fd], &[])?;
    drop((to_child_r, to_parent_w, shm_fd));
    let mut w = Writer::from_fd(to_child_w)?;
    let mut r = Reader::from_fd(to_parent_r)?;
    w.set_spin(SPIN_FOREVER);
    r.set_spin(SPIN_FOREVER);
    peer.wait_ack()?;

    let mut msg = [7u8; 64];
    let mut block = |kind: u64| -> std::io::Result<f64> {
        peer.order((n << 2) | kind)?;
        let start = Instant::now();
        match kind {
            RING => {
                for _ in 0..n {
                    w.write_all(&msg)?;
                    r.read_exact(&mut msg)?;
                }
            }
            MSG | ROTATING => {
                std::hint::black_box(shm.initiate_msg(n, kind == ROTATING));
            }
            _ => shm.initiate(n),
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / n as f64;
        peer.wait_ack()?;
        Ok(ns)
    };
    // One untimed round: page faults, first wake-ups, frequency ramp.
    const KINDS: [u64; 4] = [BARE, RING, MSG, ROTATING];
    for kind in KINDS {
        block(kind)?;
    }
    // One series per kind, indexed by the kind.
    let mut t: [Vec<f64>; 4] = Default::default();
    for i in 0..rounds {
        // Rotate which kind goes first, so that none always runs first.
        for k in 0..KINDS.len() {
            let kind = KINDS[(i + k) % KINDS.len()];
            t[kind as usize].push(block(kind)?);
        }
    }
    peer.finish(Duration::from_secs(2));
    let [bare, ring, two, rot] = &t;

    // Ratios within each round, where both sides met the same host state.
    let per_round =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
    let ratio = per_round(ring, bare);

    // The rounds whose bare round trip was in the faster half ran in the
    // "near" state, the others mostly "far": the ratio differs between them.
    let cut = fb::median(bare);
    let split = |near: bool| -> Vec<f64> {
        ratio
            .iter()
            .zip(bare)
            .filter(|(_, b)| (**b <= cut) == near)
            .map(|(r, _)| *r)
            .collect()
    };
    let (q1, q3) = quartiles(&ratio);
    println!("{rounds} rounds of {n} spinning round trips of each kind (one child answers all)\n");
    println!("| | median | quartiles | min-max |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, v: &[f64], unit: &str| {
        let (a, b) = quartiles(v);
        let (lo, hi) = fb::min_max(v);
        if unit == "x" {
            println!(
                "| {name} | {:.2}x | {a:.2}-{b:.2} | {lo:.2}-{hi:.2} |",
                fb::median(v)
            );
        } else {
            println!(
                "| {name} | {:.0} ns | {a:.0}-{b:.0} | {lo:.0}-{hi:.0} |",
                fb::median(v)
            );
        }
    };
    row("bare ping-pong round trip", bare, "ns");
    row("64-byte payload line + counter line", two, "ns");
    row("the same, payload line rotating through 1 MiB", rot, "ns");
    row("FAASIN spinning 64-byte round trip", ring, "ns");
    let ratios: [(&str, &[f64], &[f64]); 4] = [
        ("payload+counter / bare", two, bare),
        ("rotating payload+counter / bare", rot, bare),
        ("FAASIN / payload+counter", ring, two),
        ("FAASIN / rotating payload+counter", ring, rot),
    ];
    for (name, a, b) in ratios {
        row(&format!("{name}, per round"), &per_round(a, b), "x");
    }
    row("FAASIN / bare, per round", &ratio, "x");
    row(
        "  FAASIN / bare, rounds with the faster bare half",
        &split(true),
        "x",
    );
    row(
        "  FAASIN / bare, rounds with the slower bare half",
        &split(false),
        "x",
    );
    println!("\nratio quartiles {q1:.2}-{q3:.2}; target (issue #2): <= 1.5x");
    Ok(())
}

fn bad(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{e} (usage: rtt_pair [ROUNDS] [N])"),
    )
}
