//! One hop of N bytes from a writer on node a to a reader, each way in
//! turn, medians of REPS: a FAASIN ring (both on a), the TCP edge between
//! two `faasin serve` nodes (reader on b; `faasin_platform::tcp_edges`,
//! read and written through core's plain-fd path), a plain TCP stream
//! between the same two namespaces (the floor), and Redis on b (SET by
//! the writer, then GET by the reader, both on a). Runs in a's network
//! namespace; a thread enters b's to play b. Setup (ring creation, a
//! grant and its connection, an accept, handing the stream to the
//! reader) is outside the timed part.
//!
//! Usage: hop NETNS_B_PATH B_IP REDIS_ADDR REPS SIZE_MIB...

use faasin_platform::tcp_edges::{self, EdgeListener};
use faasin_runner::store::Slot;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const CHUNK: usize = 1 << 20;

/// Moves this thread into the network namespace at `path`.
fn enter(path: &str) {
    let f = std::fs::File::open(path).expect("open the namespace");
    // SAFETY: setns on an fd we hold open, for this thread only.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

fn write_n(mut w: impl Write, n: usize) {
    let buf = vec![0x5au8; CHUNK];
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        w.write_all(&buf[..k]).expect("write");
        left -= k;
    }
    w.flush().expect("flush");
}

fn read_all(mut r: impl Read) -> usize {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        match r.read(&mut buf).expect("read") {
            0 => return total,
            k => total += k,
        }
    }
}

/// Times `n` bytes from a writer on `w_fd` to a reader on `r_fd`, from the
/// first write to the reader's EOF.
fn timed(w_fd: OwnedFd, r_fd: OwnedFd, n: usize) -> Duration {
    let reader = std::thread::spawn(move || {
        let r = faasin::Reader::from_fd(r_fd).expect("reader");
        (read_all(r), Instant::now())
    });
    let t0 = Instant::now();
    write_n(faasin::Writer::from_fd(w_fd).expect("writer"), n);
    let (got, end) = reader.join().expect("reader thread");
    assert_eq!(got, n, "bytes lost");
    end - t0
}

/// On ring memory kept from one hop to the next, as a platform keeps it
/// between the invocations of the same two functions.
fn ring(memory: &mut faasin::RingMemory, n: usize) -> Duration {
    let (r, w) = memory.endpoints().expect("ring");
    timed(w, r, n)
}

/// b's side once it holds its stream: says so, then reads it to the end.
/// The writer starts the clock only then, so that neither way times how
/// its stream reached the reader's thread.
fn ready_then_read(ready: std::sync::mpsc::Sender<()>, r: impl Read) -> (usize, Instant) {
    ready.send(()).unwrap();
    (read_all(r), Instant::now())
}

fn tcp_edge(netns_b: &str, b_ip: &str, n: usize) -> Duration {
    let (ns, ip) = (netns_b.to_string(), b_ip.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let b = std::thread::spawn(move || {
        enter(&ns);
        let l = EdgeListener::start(format!("{ip}:0").parse().unwrap(), None).expect("listen");
        let g = l.grant();
        tx.send((l.addr(), g.token.clone())).unwrap();
        let s = g.stream(Duration::from_secs(10)).expect("the edge came");
        ready_then_read(ready, faasin::Reader::from_fd(s.into()).expect("reader"))
    });
    let (addr, token) = rx.recv().unwrap();
    let w = tcp_edges::connect(addr, &token).expect("connect the edge");
    is_ready.recv().unwrap();
    let t0 = Instant::now();
    write_n(faasin::Writer::from_fd(w.into()).expect("writer"), n);
    let (got, end) = b.join().expect("b");
    assert_eq!(got, n, "bytes lost");
    end - t0
}

fn plain_tcp(netns_b: &str, b_ip: &str, n: usize) -> Duration {
    let (ns, ip) = (netns_b.to_string(), b_ip.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let b = std::thread::spawn(move || {
        enter(&ns);
        let l = TcpListener::bind(format!("{ip}:0")).expect("listen");
        tx.send(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().expect("accept");
        ready_then_read(ready, s)
    });
    let addr: SocketAddr = rx.recv().unwrap();
    let w = TcpStream::connect(addr).expect("connect");
    w.set_nodelay(true).unwrap();
    is_ready.recv().unwrap();
    let t0 = Instant::now();
    write_n(&w, n);
    drop(w);
    let (got, end) = b.join().expect("b");
    assert_eq!(got, n, "bytes lost");
    end - t0
}

fn redis(addr: &str, n: usize) -> Duration {
    let slot = Slot::Redis {
        addr: addr.to_string(),
        key: "faasin-hop".into(),
    };
    let value = vec![0x5au8; n];
    let t0 = Instant::now();
    slot.put(&value).expect("SET");
    let got = slot.get().expect("GET");
    let d = t0.elapsed();
    assert_eq!(got.len(), n, "bytes lost");
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: hop NETNS_B_PATH B_IP REDIS_ADDR REPS SIZE_MIB...");
        std::process::exit(2);
    }
    let (ns, ip, redis_addr) = (&args[1], &args[2], &args[3]);
    let reps: usize = args[4].parse().expect("REPS");
    // Both ends of every ring are ours, opened again hop after hop.
    faasin::keep_mappings();
    let mut memory = faasin::RingMemory::new(faasin::DEFAULT_CAPACITY).expect("ring memory");
    println!("| size | ring on a | TCP edge a→b | plain TCP a→b | Redis on b | TCP edge vs plain TCP | TCP edge vs Redis |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for mib in &args[5..] {
        let n: usize = mib.parse::<usize>().expect("SIZE_MIB") << 20;
        let mut t: [Vec<Duration>; 4] = Default::default();
        for _ in 0..reps {
            // Every way in turn, so that they share the machine's states.
            t[0].push(ring(&mut memory, n));
            t[1].push(tcp_edge(ns, ip, n));
            t[2].push(plain_tcp(ns, ip, n));
            t[3].push(redis(redis_addr, n));
        }
        let m: Vec<f64> = t.into_iter().map(|v| median(v).as_secs_f64()).collect();
        let cell = |s: f64| {
            format!(
                "{:.2} ms ({:.2} GiB/s)",
                s * 1e3,
                n as f64 / s / (1u64 << 30) as f64
            )
        };
        // Speed of the TCP edge relative to the other: above 1, faster.
        println!(
            "| {mib} MiB | {} | {} | {} | {} | {:.2}x | {:.1}x |",
            cell(m[0]),
            cell(m[1]),
            cell(m[2]),
            cell(m[3]),
            m[2] / m[1],
            m[3] / m[1],
        );
    }
}
