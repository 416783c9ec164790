//! One run, every transport side by side, between two processes: FAASIN (copy
//! and zero-copy), pipes, a unix socket, TCP on loopback, Redis (SET then
//! GET), the peer shared-memory libraries iceoryx2 and shmem-ipc (feature
//! `peers`), a bare shared-memory stream with no protocol (the cross-core
//! ceiling of any of them) and memcpy within one process as the in-cache
//! ceiling. Repetitions are the outer loop and
//! transports alternate inside each, so that drift on a shared machine hits
//! all of them alike. Prints a markdown table; writes the raw numbers to
//! `target/bench-results/compare.{json,csv}`.
//!
//! Settings (environment): `COMPARE_REPS` (5), `COMPARE_TOTAL_MIB` (256),
//! `COMPARE_REDIS_MIB` (64), `COMPARE_RTT_N` (2000), `COMPARE_RTT_SPIN_N`
//! (300), `COMPARE_ROWS` (only rows whose name contains one of these
//! comma-separated words), `COMPARE_VERBOSE` (progress per measurement), `REDIS_PORT` (Redis
//! rows are skipped, and say so, without it), `COMPARE_CPUS` (`A,B`: this
//! process runs on CPU A and every child on CPU B, so that each wake-up
//! crosses CPUs; unset, the scheduler places both). Run it with
//! `benches/compare.sh`.

use faasin::{Reader, Writer};
use faasin_benches::host_state::{self, HostState};
use faasin_benches::{self as fb, median, min_max, ChildSide, Peer, Shm, RING};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

const ROLE: &str = "FAASIN_COMPARE_CHILD";
const SIZES: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];
/// A spin budget long enough that a spinning FAASIN round trip never sleeps.
const SPIN_FOREVER: Duration = Duration::from_secs(3600);
const GRACE: Duration = Duration::from_secs(5);

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
        Err(_) => default,
    }
}

fn env_size() -> usize {
    env_num("SIZE", 0) as usize
}

/// What a row could not do, said in the table instead of a number.
type Outcome = Result<f64, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Orders the child to read `total` bytes and times `send` once per
/// `size`-byte write (given a counter that wraps, for writers that fill in
/// place) until the child has acknowledged the last byte; then lets the child
/// go.
fn timed_stream(
    mut peer: Peer,
    size: usize,
    total: u64,
    mut send: impl FnMut(u8) -> Result<(), String>,
) -> Outcome {
    peer.order(total).map_err(err)?;
    let start = Instant::now();
    let mut left = total;
    let mut i = 0u8;
    while left > 0 {
        send(i)?;
        i = i.wrapping_add(1);
        left -= size as u64;
    }
    peer.wait_ack().map_err(err)?;
    let secs = start.elapsed().as_secs_f64();
    peer.finish(GRACE);
    Ok(secs)
}

/// Orders `n` round trips from the child and times `n` calls of `trip`; then
/// waits for the child's acknowledgement and lets it go.
fn timed_round_trips(
    mut peer: Peer,
    n: u64,
    mut trip: impl FnMut() -> Result<(), String>,
) -> Outcome {
    peer.order(n).map_err(err)?;
    let start = Instant::now();
    for _ in 0..n {
        trip()?;
    }
    let secs = start.elapsed().as_secs_f64();
    peer.wait_ack().map_err(err)?;
    peer.finish(GRACE);
    Ok(secs)
}

// ---------------------------------------------------------------- throughput

const TPUT: [&str; 11] = [
    "faasin-copy",
    "faasin-zero-copy",
    "pipe",
    "pipe-1MiB",
    "unix-socket",
    "tcp-loopback",
    "redis",
    "iceoryx2",
    "shmem-ipc",
    "bare-stream",
    "memcpy",
];

/// Moves `total` bytes in `size`-byte writes; returns seconds.
fn throughput(name: &str, size: usize, total: u64, redis_total: u64) -> Outcome {
    match name {
        "memcpy" => Ok(memcpy(size, total)),
        "faasin-copy" => fd_stream(name, fb::faasin_fds, "sink-faasin", size, total),
        "faasin-zero-copy" => fd_stream(name, fb::faasin_fds, "sink-zero-copy", size, total),
        "pipe" => fd_stream(name, fb::pipe, "sink-fd", size, total),
        "pipe-1MiB" => fd_stream(name, fb::big_pipe, "sink-fd", size, total),
        "unix-socket" => fd_stream(name, fb::unix_stream, "sink-fd", size, total),
        "tcp-loopback" => fd_stream(name, fb::tcp_loopback, "sink-fd", size, total),
        "redis" => redis_set_get(size, redis_total),
        "iceoryx2" => peers::iceoryx2_stream(size, total),
        "shmem-ipc" => peers::shmem_stream(size, total),
        "bare-stream" => bare_stream(size, total),
        other => Err(format!("unknown transport {other}")),
    }
}

fn memcpy(size: usize, total: u64) -> f64 {
    // The same window as the ring, so the destination is as cold as there.
    // Both buffers page-aligned: glibc copies mid-sized blocks with
    // `rep movsb`, which on this AMD EPYC runs ~15x slower when the
    // destination sits a few bytes after the source modulo 4096 (measured:
    // 64 KiB copies at 1.7 GiB/s with dst = src + 16 mod 4096, 30 GiB/s
    // otherwise), and two plain Vecs landed exactly there.
    let mut src_buf = vec![0xA5u8; size + 4096];
    let mut dst_buf = vec![0u8; RING.max(size) + 4096];
    let src = page_aligned(&mut src_buf, size);
    let dst = page_aligned(&mut dst_buf, RING.max(size));
    let mut off = 0;
    let start = Instant::now();
    let mut left = total;
    while left > 0 {
        dst[off..off + size].copy_from_slice(src);
        off = (off + size) % dst.len();
        left -= size as u64;
        std::hint::black_box(&mut *dst);
    }
    start.elapsed().as_secs_f64()
}

/// The cross-core ceiling: the least any shared-memory stream does (see
/// `Shm::stream_send`), chunks of at most the zero-copy path's step.
fn bare_stream(size: usize, total: u64) -> Outcome {
    let step = size.min(fb::ZERO_COPY_STEP);
    let (shm, fd) = Shm::create().map_err(err)?;
    let mut peer = Peer::start(
        ROLE,
        "sink-bare-stream",
        &[&fd],
        &[("SIZE", step.to_string())],
    )
    .map_err(err)?;
    peer.wait_ack().map_err(err)?;
    peer.order(total).map_err(err)?;
    let start = Instant::now();
    shm.stream_send(total, step, 0xA5);
    peer.wait_ack().map_err(err)?;
    let secs = start.elapsed().as_secs_f64();
    peer.finish(GRACE);
    Ok(secs)
}

fn page_aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let skip = buf.as_ptr().align_offset(4096);
    &mut buf[skip..skip + len]
}

fn fd_stream(
    name: &str,
    make: fn() -> io::Result<(OwnedFd, OwnedFd)>,
    role: &str,
    size: usize,
    total: u64,
) -> Outcome {
    let (rfd, wfd) = make().map_err(err)?;
    let mut peer = Peer::start(ROLE, role, &[&rfd], &[("SIZE", size.to_string())]).map_err(err)?;
    drop(rfd);
    peer.wait_ack().map_err(err)?;
    let src = vec![0xA5u8; size];
    if name == "faasin-zero-copy" {
        let mut w = Writer::from_fd(wfd).map_err(err)?;
        timed_stream(peer, size, total, |i| {
            fb::produce_in_place(&mut w, size, i).map_err(err)
        })
    } else if name.starts_with("faasin") {
        let mut w = Writer::from_fd(wfd).map_err(err)?;
        timed_stream(peer, size, total, |_| w.write_all(&src).map_err(err))
    } else {
        let mut w = File::from(wfd);
        timed_stream(peer, size, total, |_| w.write_all(&src).map_err(err))
    }
}

fn redis_port() -> Result<u16, String> {
    let s = std::env::var("REDIS_PORT").map_err(|_| "REDIS_PORT not set".to_string())?;
    s.parse().map_err(|_| format!("REDIS_PORT={s:?}"))
}

fn redis_connect() -> Result<TcpStream, String> {
    let s = TcpStream::connect(("127.0.0.1", redis_port()?)).map_err(err)?;
    s.set_nodelay(true).map_err(err)?;
    Ok(s)
}

/// Reads one RESP line ("+OK", "$5", ":1", "*2", "-ERR ...") without "\r\n".
fn resp_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.starts_with('-') {
        return Err(io::Error::other(format!("redis: {line}")));
    }
    Ok(line)
}

fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The remote-storage status quo: the producer SETs the whole payload (sent
/// in `size`-byte writes), then the consumer GETs it (read in `size`-byte
/// reads). Timed from the first byte of SET to the consumer's last byte.
fn redis_set_get(size: usize, total: u64) -> Outcome {
    // Checked before a child is started that would fail the same way.
    redis_port()?;
    let key = format!("faasin-bench-{}", std::process::id());
    let mut peer = Peer::start(
        ROLE,
        "redis-get",
        &[],
        &[("SIZE", size.to_string()), ("KEY", key.clone())],
    )
    .map_err(err)?;
    let conn = redis_connect()?;
    let mut w = conn.try_clone().map_err(err)?;
    let mut r = BufReader::new(conn);
    peer.wait_ack().map_err(err)?;
    let src = vec![0xA5u8; size];
    let start = Instant::now();
    let head = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${total}\r\n", key.len());
    w.write_all(head.as_bytes()).map_err(err)?;
    let mut left = total;
    while left > 0 {
        let k = (left as usize).min(size);
        w.write_all(&src[..k]).map_err(err)?;
        left -= k as u64;
    }
    w.write_all(b"\r\n").map_err(err)?;
    let ok = resp_line(&mut r).map_err(err)?;
    if ok != "+OK" {
        return Err(format!("SET answered {ok:?}"));
    }
    peer.order(total).map_err(err)?;
    let got = peer.wait_ack().map_err(err)?;
    let secs = start.elapsed().as_secs_f64();
    peer.finish(GRACE);
    w.write_all(&resp_command(&[b"DEL", key.as_bytes()]))
        .map_err(err)?;
    resp_line(&mut r).map_err(err)?;
    if got != b'k' {
        return Err("GET returned the wrong length".into());
    }
    Ok(secs)
}

fn child_redis_get(side: &mut ChildSide) {
    let size = env_size();
    let key = std::env::var("KEY").expect("KEY");
    let conn = redis_connect().expect("connect to redis");
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::with_capacity(size.max(64), conn);
    let mut buf = vec![0u8; size];
    side.ack(b'r');
    while let Some(n) = side.next_order() {
        w.write_all(&resp_command(&[b"GET", key.as_bytes()]))
            .expect("GET");
        let head = resp_line(&mut r).expect("GET reply");
        let len: u64 = head
            .strip_prefix('$')
            .and_then(|s| s.parse().ok())
            .expect("bulk reply");
        let mut left = len;
        let mut fold = 0;
        while left > 0 {
            let k = (left as usize).min(size);
            r.read_exact(&mut buf[..k]).expect("GET body");
            fold = fb::fold_bytes(fold, &buf[..k]);
            left -= k as u64;
        }
        std::hint::black_box(fold);
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).expect("GET trailer");
        side.ack(if len == n { b'k' } else { b'x' });
    }
}

// ---------------------------------------------------------------- round trip

const RTT: [(&str, &str); 11] = [
    ("faasin", "spinning"),
    ("faasin", "blocking"),
    ("pipe", "blocking"),
    ("unix-socket", "blocking"),
    ("tcp-loopback", "blocking"),
    ("redis", "blocking"),
    ("iceoryx2", "spinning"),
    ("iceoryx2", "blocking"),
    ("shmem-ipc", "spinning"),
    ("shmem-ipc", "blocking"),
    ("bare-shm", "spinning"),
];

/// `n` round trips of 64 bytes; returns seconds for all of them.
fn round_trip(name: &str, mode: &str, n: u64) -> Outcome {
    let spin = mode == "spinning";
    match name {
        "faasin" => fd_rtt(fb::faasin_fds, true, spin, n),
        "pipe" => fd_rtt(fb::pipe, false, spin, n),
        "unix-socket" => fd_rtt(fb::unix_stream, false, spin, n),
        "tcp-loopback" => fd_rtt(fb::tcp_loopback, false, spin, n),
        "redis" => redis_rtt(n),
        "iceoryx2" => peers::iceoryx2_rtt(spin, n),
        "shmem-ipc" => peers::shmem_rtt(spin, n),
        "bare-shm" => {
            let (shm, fd) = Shm::create().map_err(err)?;
            let mut peer = Peer::start(ROLE, "rtt-bare-shm", &[&fd], &[]).map_err(err)?;
            peer.wait_ack().map_err(err)?;
            peer.order(n).map_err(err)?;
            let start = Instant::now();
            shm.initiate(n);
            let secs = start.elapsed().as_secs_f64();
            peer.wait_ack().map_err(err)?;
            peer.finish(GRACE);
            Ok(secs)
        }
        other => Err(format!("unknown transport {other}")),
    }
}

fn fd_rtt(make: fn() -> io::Result<(OwnedFd, OwnedFd)>, ring: bool, spin: bool, n: u64) -> Outcome {
    let (to_child_r, to_child_w) = make().map_err(err)?;
    let (to_parent_r, to_parent_w) = make().map_err(err)?;
    let spin_ns = if spin { SPIN_FOREVER } else { Duration::ZERO };
    let mut peer = Peer::start(
        ROLE,
        if ring { "rtt-faasin" } else { "rtt-fd" },
        &[&to_child_r, &to_parent_w],
        &[("SPIN", spin_ns.as_nanos().to_string())],
    )
    .map_err(err)?;
    drop((to_child_r, to_parent_w));
    peer.wait_ack().map_err(err)?;
    if ring {
        let mut w = Writer::from_fd(to_child_w).map_err(err)?;
        let mut r = Reader::from_fd(to_parent_r).map_err(err)?;
        w.set_spin(spin_ns);
        r.set_spin(spin_ns);
        echo_round_trips(peer, n, w, r)
    } else {
        echo_round_trips(peer, n, File::from(to_child_w), File::from(to_parent_r))
    }
}

/// `n` round trips of 64 bytes written to `w` and read back from `r`.
fn echo_round_trips(peer: Peer, n: u64, mut w: impl Write, mut r: impl Read) -> Outcome {
    let mut msg = [7u8; 64];
    timed_round_trips(peer, n, || {
        w.write_all(&msg).map_err(err)?;
        r.read_exact(&mut msg).map_err(err)
    })
}

/// Redis has no way to push a value to a waiting reader other than its
/// blocking list pops: RPUSH the 64 bytes, the other side BLPOPs them.
fn redis_rtt(n: u64) -> Outcome {
    redis_port()?;
    let key = format!("faasin-rtt-{}", std::process::id());
    let mut peer = Peer::start(ROLE, "redis-rtt", &[], &[("KEY", key.clone())]).map_err(err)?;
    let conn = redis_connect()?;
    let mut w = conn.try_clone().map_err(err)?;
    let mut r = BufReader::new(conn);
    peer.wait_ack().map_err(err)?;
    let msg = [7u8; 64];
    let ping = format!("{key}-ping");
    let pong = format!("{key}-pong");
    let push = resp_command(&[b"RPUSH", ping.as_bytes(), &msg]);
    let pop = resp_command(&[b"BLPOP", pong.as_bytes(), b"0"]);
    timed_round_trips(peer, n, || {
        w.write_all(&push).map_err(err)?;
        resp_line(&mut r).map_err(err)?;
        w.write_all(&pop).map_err(err)?;
        read_blpop(&mut r).map_err(err)?;
        Ok(())
    })
}

/// Reads a BLPOP reply (`*2`, the key, the value) and returns the value.
fn read_blpop(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let head = resp_line(r)?;
    if head != "*2" {
        return Err(io::Error::other(format!("BLPOP answered {head:?}")));
    }
    let mut value = Vec::new();
    for _ in 0..2 {
        let len: usize = resp_line(r)?
            .strip_prefix('$')
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("bad bulk length"))?;
        value = vec![0u8; len + 2];
        r.read_exact(&mut value)?;
        value.truncate(len);
    }
    Ok(value)
}

fn child_redis_rtt(side: &mut ChildSide) {
    let key = std::env::var("KEY").expect("KEY");
    let conn = redis_connect().expect("connect to redis");
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::new(conn);
    let pop = resp_command(&[b"BLPOP", format!("{key}-ping").as_bytes(), b"0"]);
    side.ack(b'r');
    while let Some(n) = side.next_order() {
        for _ in 0..n {
            w.write_all(&pop).expect("BLPOP");
            let v = read_blpop(&mut r).expect("BLPOP reply");
            let push = resp_command(&[b"RPUSH", format!("{key}-pong").as_bytes(), &v]);
            w.write_all(&push).expect("RPUSH");
            resp_line(&mut r).expect("RPUSH reply");
        }
        side.ack(b'k');
    }
}

/// Pins this process to the `which`-th CPU (0: the parent's, 1: the
/// children's) of `COMPARE_CPUS`, if it is set.
fn pin_from_env(which: usize) {
    let spec = std::env::var("COMPARE_CPUS").unwrap_or_default();
    if spec.is_empty() {
        return;
    }
    let cpus: Vec<usize> = spec
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let [a, b] = cpus[..] else {
        panic!("COMPARE_CPUS={spec:?} is not two CPU numbers, as in 0,1");
    };
    let cpu = [a, b][which];
    if let Err(e) = host_state::pin_to(cpu) {
        panic!("COMPARE_CPUS: cannot run on CPU {cpu}: {e}");
    }
}

// ---------------------------------------------------------------- child

fn child(role: &str) {
    pin_from_env(1);
    let mut side = ChildSide::new();
    match role {
        "sink-faasin" | "sink-fd" => {
            let size = env_size();
            let fd = side.take(0);
            let mut r: Box<dyn Read> = if role == "sink-faasin" {
                Box::new(Reader::from_fd(fd).expect("faasin read end"))
            } else {
                Box::new(File::from(fd))
            };
            let mut buf = vec![0u8; size];
            side.ack(b'r');
            while let Some(mut n) = side.next_order() {
                while n > 0 {
                    let want = (n as usize).min(size);
                    let k = r.read(&mut buf[..want]).expect("read");
                    assert!(k > 0, "early EOF");
                    n -= k as u64;
                }
                side.ack(b'k');
            }
        }
        "sink-zero-copy" => {
            let mut r = Reader::from_fd(side.take(0)).expect("faasin read end");
            let mut fold = 0u64;
            side.ack(b'r');
            while let Some(n) = side.next_order() {
                fold = fb::consume_in_place(&mut r, n, fold).expect("read in place");
                side.ack(fold as u8 | 1);
            }
        }
        "sink-bare-stream" => {
            let shm = Shm::open(side.take(0)).expect("map");
            side.ack(b'r');
            // One order per child: the stream's counters start at 0 in the
            // fresh memory `bare_stream` makes for each measurement.
            if let Some(n) = side.next_order() {
                let fold = shm.stream_receive(n, env_size(), 0);
                side.ack(fold as u8 | 1);
            }
        }
        "rtt-faasin" | "rtt-fd" => {
            let spin = Duration::from_nanos(env_num("SPIN", 0));
            let (rfd, wfd) = (side.take(0), side.take(1));
            let (mut r, mut w): (Box<dyn Read>, Box<dyn Write>) = if role == "rtt-faasin" {
                let mut r = Reader::from_fd(rfd).expect("faasin read end");
                let mut w = Writer::from_fd(wfd).expect("faasin write end");
                r.set_spin(spin);
                w.set_spin(spin);
                (Box::new(r), Box::new(w))
            } else {
                (Box::new(File::from(rfd)), Box::new(File::from(wfd)))
            };
            let mut msg = [0u8; 64];
            side.ack(b'r');
            while let Some(n) = side.next_order() {
                for _ in 0..n {
                    r.read_exact(&mut msg).expect("read");
                    w.write_all(&msg).expect("write");
                }
                side.ack(b'k');
            }
        }
        "rtt-bare-shm" => {
            let shm = Shm::open(side.take(0)).expect("map");
            side.ack(b'r');
            while let Some(n) = side.next_order() {
                shm.respond(n);
                side.ack(b'k');
            }
        }
        "redis-get" => child_redis_get(&mut side),
        "redis-rtt" => child_redis_rtt(&mut side),
        other => peers::child(other, &mut side),
    }
}

// ---------------------------------------------------------------- report

struct Row {
    kind: &'static str,
    transport: String,
    /// Write size for throughput, 64 for round trips.
    size: usize,
    /// Bytes/s for throughput, seconds per round trip for round trips;
    /// empty where the row could not run (with the reason).
    values: Vec<f64>,
    /// The host state each value was measured in (probed before and after
    /// it; `None` where the probe could not run).
    states: Vec<Option<HostState>>,
    error: Option<String>,
}

fn human_size(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// A row's median and range.
struct Stats {
    median: f64,
    lo: f64,
    hi: f64,
}

impl Stats {
    /// The row's figures, or why it has none.
    fn of(r: &Row) -> Result<Stats, &str> {
        if r.values.is_empty() {
            return Err(r.error.as_deref().unwrap_or("no data"));
        }
        let (lo, hi) = min_max(&r.values);
        Ok(Stats {
            median: median(&r.values),
            lo,
            hi,
        })
    }

    /// The median as a multiple of `reference` ("" without one).
    fn ratio(&self, reference: Option<f64>) -> String {
        reference.map_or("".into(), |f| format!("{:.2}x", self.median / f))
    }
}

/// The median of the first row that `pick` chooses, if it has values.
fn median_of(rows: &[Row], pick: impl Fn(&Row) -> bool) -> Option<f64> {
    rows.iter()
        .find(|r| pick(r))
        .filter(|r| !r.values.is_empty())
        .map(|r| median(&r.values))
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let gib = (1u64 << 30) as f64;
    for size in SIZES {
        let reference = median_of(rows, |r| {
            r.kind == "throughput" && r.size == size && r.transport == "faasin-copy"
        });
        let _ = writeln!(
            out,
            "\n### Throughput, {} writes\n\n| transport | median GiB/s | min-max GiB/s | vs FAASIN copy |\n|---|---:|---:|---:|",
            human_size(size)
        );
        for r in rows
            .iter()
            .filter(|r| r.kind == "throughput" && r.size == size)
        {
            let _ = match Stats::of(r) {
                Err(why) => writeln!(out, "| {} | n/a | {} | |", r.transport, why),
                Ok(s) => writeln!(
                    out,
                    "| {} | {:.2} | {:.2}-{:.2} | {} |",
                    r.transport,
                    s.median / gib,
                    s.lo / gib,
                    s.hi / gib,
                    s.ratio(reference)
                ),
            };
        }
    }
    let _ = writeln!(
        out,
        "\n### 64-byte round trip\n\n| transport | wait | median us | min-max us | vs FAASIN (same wait) |\n|---|---|---:|---:|---:|"
    );
    for r in rows.iter().filter(|r| r.kind == "rtt") {
        let (name, mode) = r.transport.split_once(' ').unwrap_or((&r.transport, ""));
        let reference = median_of(rows, |x| {
            x.kind == "rtt" && x.transport == format!("faasin {mode}")
        });
        let _ = match Stats::of(r) {
            Err(why) => writeln!(out, "| {name} | {mode} | n/a | {why} | |"),
            Ok(s) => writeln!(
                out,
                "| {name} | {mode} | {:.2} | {:.2}-{:.2} | {} |",
                s.median * 1e6,
                s.lo * 1e6,
                s.hi * 1e6,
                s.ratio(reference)
            ),
        };
    }
    out
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The throughput rows again, split by the host state their measurements
/// ran in (`faasin_benches::host_state`): medians over the near and over
/// the far measurements, each with its count and its ratio to FAASIN's
/// copy path in the same state. Measurements whose probes disagree are left
/// out.
fn by_state(rows: &[Row]) -> String {
    let mut out = String::new();
    if rows.iter().all(|r| r.states.iter().all(Option::is_none)) {
        return out;
    }
    let gib = (1u64 << 30) as f64;
    let of = |r: &Row, st: HostState| -> Vec<f64> {
        r.values
            .iter()
            .zip(&r.states)
            .filter(|(_, s)| **s == Some(st))
            .map(|(v, _)| *v)
            .collect()
    };
    let _ = writeln!(
        out,
        "\n### Throughput by host state (bare round trip under / over {:.0} ns before and after the measurement)\n\n| write size | transport | near: median GiB/s (n) | vs FAASIN copy | far: median GiB/s (n) | vs FAASIN copy |\n|---|---|---:|---:|---:|---:|",
        host_state::FAR_ABOVE_NS
    );
    for size in SIZES {
        let reference = rows
            .iter()
            .find(|r| r.kind == "throughput" && r.size == size && r.transport == "faasin-copy");
        for r in rows
            .iter()
            .filter(|r| r.kind == "throughput" && r.size == size && !r.values.is_empty())
        {
            let mut cells = Vec::new();
            for st in [HostState::Near, HostState::Far] {
                let v = of(r, st);
                if v.is_empty() {
                    cells.push("- (0) | ".to_string());
                    continue;
                }
                let m = median(&v);
                let ratio = reference
                    .map(|f| of(f, st))
                    .filter(|f| !f.is_empty())
                    .map_or("".into(), |f| format!("{:.2}x", m / median(&f)));
                cells.push(format!("{:.2} ({}) | {ratio}", m / gib, v.len()));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                human_size(size),
                r.transport,
                cells[0],
                cells[1]
            );
        }
    }
    out
}

fn write_results(rows: &[Row], settings: &str) -> io::Result<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir)?;
    let mut json = format!("{{\n  \"settings\": {settings},\n  \"rows\": [\n");
    let mut csv = String::from("kind,transport,size,rep,value,unit\n");
    for (i, r) in rows.iter().enumerate() {
        let unit = if r.kind == "throughput" {
            "bytes_per_second"
        } else {
            "seconds_per_round_trip"
        };
        let vals: Vec<String> = r.values.iter().map(|v| format!("{v:e}")).collect();
        let _ = writeln!(
            json,
            "    {{\"kind\": {}, \"transport\": {}, \"size\": {}, \"unit\": {}, \"values\": [{}], \"host_states\": [{}], \"error\": {}}}{}",
            json_str(r.kind),
            json_str(&r.transport),
            r.size,
            json_str(unit),
            vals.join(", "),
            r.states
                .iter()
                .map(|s| s.map_or("null".into(), |s| json_str(s.name())))
                .collect::<Vec<_>>()
                .join(", "),
            r.error.as_deref().map_or("null".into(), json_str),
            if i + 1 < rows.len() { "," } else { "" }
        );
        for (rep, v) in r.values.iter().enumerate() {
            let _ = writeln!(
                csv,
                "{},{},{},{rep},{v:e},{unit}",
                r.kind, r.transport, r.size
            );
        }
    }
    json.push_str("  ]\n}\n");
    std::fs::write(dir.join("compare.json"), json)?;
    std::fs::write(dir.join("compare.csv"), csv)?;
    Ok(dir.canonicalize()?.join("compare.json"))
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    pin_from_env(0);
    let reps = env_num("COMPARE_REPS", 5).max(1);
    let total = env_num("COMPARE_TOTAL_MIB", 256) << 20;
    let redis_total = env_num("COMPARE_REDIS_MIB", 64) << 20;
    let rtt_n = env_num("COMPARE_RTT_N", 2000).max(1);
    // Two spinning processes on a loaded 2-core machine often wait a whole
    // scheduler slice per round trip, hence fewer of them.
    let rtt_spin_n = env_num("COMPARE_RTT_SPIN_N", 300).max(1);
    let settings = format!(
        "{{\"reps\": {reps}, \"total_bytes\": {total}, \"redis_total_bytes\": {redis_total}, \"rtt_n\": {rtt_n}, \"rtt_spin_n\": {rtt_spin_n}, \"ring_bytes\": {RING}, \"peers_built\": {}, \"cpus\": {:?}}}",
        cfg!(feature = "peers"),
        std::env::var("COMPARE_CPUS").unwrap_or_default()
    );
    eprintln!("settings: {settings}");

    let mut rows: Vec<Row> = Vec::new();
    for size in SIZES {
        for t in TPUT {
            rows.push(Row {
                kind: "throughput",
                transport: t.into(),
                size,
                values: vec![],
                states: vec![],
                error: None,
            });
        }
    }
    for (t, mode) in RTT {
        rows.push(Row {
            kind: "rtt",
            transport: format!("{t} {mode}"),
            size: 64,
            values: vec![],
            states: vec![],
            error: None,
        });
    }

    // COMPARE_ROWS=a,b keeps only the rows whose name contains a or b (e.g.
    // "spinning" for the spinning round trips alone), for a quick, longer
    // side-by-side look at a few of them.
    if let Ok(keep) = std::env::var("COMPARE_ROWS") {
        let keep: Vec<&str> = keep.split(',').map(str::trim).collect();
        rows.retain(|r| keep.iter().any(|k| r.transport.contains(k)));
    }
    let verbose = std::env::var_os("COMPARE_VERBOSE").is_some();
    let started = Instant::now();
    for rep in 0..reps {
        for row in rows.iter_mut() {
            if row.error.is_some() {
                // A row that failed once (not built, no Redis) is not retried.
                continue;
            }
            if verbose {
                eprintln!("{} {} ...", row.transport, row.size);
            }
            let before = host_state::probe().ok();
            let outcome = if row.kind == "throughput" {
                let bytes = if row.transport == "redis" {
                    redis_total
                } else {
                    total
                };
                throughput(&row.transport, row.size, total, redis_total)
                    .map(|secs| bytes as f64 / secs)
            } else {
                let (t, mode) = row.transport.split_once(' ').expect("name mode");
                let n = if mode == "spinning" {
                    rtt_spin_n
                } else {
                    rtt_n
                };
                round_trip(t, mode, n).map(|secs| secs / n as f64)
            };
            let after = host_state::probe().ok();
            match outcome {
                Ok(v) => {
                    row.values.push(v);
                    row.states
                        .push(before.zip(after).map(|(b, a)| HostState::between(b, a)));
                }
                Err(e) => {
                    eprintln!("{} {}: {e}", row.transport, row.size);
                    row.error = Some(e);
                }
            }
        }
        eprintln!(
            "repetition {}/{reps} done at {:.1}s",
            rep + 1,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{} repetitions; {} MiB per throughput measurement ({} MiB for Redis); {rtt_n} round trips per blocking and {rtt_spin_n} per spinning latency measurement; {:.0}s in all",
        reps,
        total >> 20,
        redis_total >> 20,
        started.elapsed().as_secs_f64()
    );
    print!("{}", table(&rows));
    print!("{}", by_state(&rows));
    match write_results(&rows, &settings) {
        Ok(p) => println!("\nraw numbers: {}", p.display()),
        Err(e) => {
            eprintln!("cannot write results: {e}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------- peers

#[cfg(not(feature = "peers"))]
mod peers {
    use super::{ChildSide, Outcome};

    const NOT_BUILT: &str = "not built: rebuild with --features peers";

    pub fn iceoryx2_stream(_: usize, _: u64) -> Outcome {
        Err(NOT_BUILT.into())
    }
    pub fn shmem_stream(_: usize, _: u64) -> Outcome {
        Err(NOT_BUILT.into())
    }
    pub fn iceoryx2_rtt(_: bool, _: u64) -> Outcome {
        Err(NOT_BUILT.into())
    }
    pub fn shmem_rtt(_: bool, _: u64) -> Outcome {
        Err(NOT_BUILT.into())
    }
    pub fn child(role: &str, _: &mut ChildSide) {
        panic!("unknown child role {role}");
    }
}

#[cfg(feature = "peers")]
mod peers;
