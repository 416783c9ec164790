//! What a connecting peer sends to a node's edge listener (cross-host
//! edges, `platform/src/tcp_edges.rs`): connections one after another, each
//! an edge hello for a token granted here (exact, or with a byte changed,
//! cut short, or in upper case) or any bytes, then payload; grants made and
//! withdrawn between them.
//!
//! A connection gets `OK\n` and its grant gets the stream, with the payload
//! after the hello unchanged, exactly when it began with the hello of a
//! token granted here, neither used nor withdrawn; every other connection
//! is closed unanswered, no grant gets it, and it is counted as refused.
//! Each connection's thread is over once the listener is dropped.

#![no_main]

use arbitrary::Arbitrary;
use faasin_platform::tcp_edges::{EdgeListener, Grant};
use libfuzzer_sys::fuzz_target;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const MAGIC: &[u8] = b"FAASIN-EDGE 1 ";
const HELLO_LEN: usize = MAGIC.len() + 32 + 1;
/// Far longer than any answer takes; a hang fails the input.
const PATIENCE: Duration = Duration::from_secs(8);

#[derive(Arbitrary, Debug)]
enum Edit {
    Exact,
    /// XORs one byte (by a nonzero mask) of the hello.
    Flip {
        at: u8,
        mask: u8,
    },
    CutTo {
        len: u8,
    },
    Upper,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Grant,
    /// Drops grant `n` (of those made so far).
    Withdraw {
        n: u8,
    },
    /// A hello for grant `n`'s token, edited, then the payload.
    Hello {
        n: u8,
        edit: Edit,
        payload: Vec<u8>,
    },
    Raw {
        bytes: Vec<u8>,
    },
}

/// A grant made in this input: live (`Some`) until withdrawn, and whether
/// its stream was taken.
struct Made {
    token: String,
    grant: Option<Grant>,
    used: bool,
}

fn hello(token: &str) -> Vec<u8> {
    [MAGIC, token.as_bytes(), b"\n"].concat()
}

fn edited(token: &str, edit: &Edit) -> Vec<u8> {
    let mut h = hello(token);
    match *edit {
        Edit::Exact => {}
        Edit::Flip { at, mask } => h[usize::from(at) % HELLO_LEN] ^= mask.max(1),
        Edit::CutTo { len } => h.truncate(usize::from(len) % HELLO_LEN),
        Edit::Upper => h.make_ascii_uppercase(),
    }
    h
}

/// Connects, sends `bytes` and ends the sending side; the send's result
/// matters only to a listener that accepts.
fn send(listener: &EdgeListener, bytes: &[u8]) -> (TcpStream, Result<(), std::io::Error>) {
    let mut c = TcpStream::connect(listener.addr()).expect("connect to the edge listener");
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    // A refusing listener may close before taking all of it.
    let sent = c
        .write_all(bytes)
        .and_then(|()| c.shutdown(Shutdown::Write));
    (c, sent)
}

/// What the listener answers, until it closes (a reset is a close).
fn answer(mut c: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    match c.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no answer from the edge listener: {e}"),
    }
    got
}

/// How many threads this process has.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

fuzz_target!(|steps: Vec<Step>| {
    let before = threads();
    let listener = EdgeListener::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let mut made: Vec<Made> = Vec::new();
    let mut refused = 0;
    for step in steps.into_iter().take(8) {
        let bytes = match step {
            Step::Grant => {
                let g = listener.grant();
                assert_eq!(g.token.len(), 32);
                made.push(Made {
                    token: g.token.clone(),
                    grant: Some(g),
                    used: false,
                });
                continue;
            }
            Step::Withdraw { n } => {
                if !made.is_empty() {
                    let i = usize::from(n) % made.len();
                    made[i].grant = None;
                }
                continue;
            }
            Step::Hello { n, edit, payload } => {
                let token = match made.len() {
                    0 => "0".repeat(32),
                    len => made[usize::from(n) % len].token.clone(),
                };
                [edited(&token, &edit), payload].concat()
            }
            Step::Raw { bytes } => bytes,
        };
        let taker = made.iter().position(|m| {
            m.grant.is_some() && !m.used && bytes.get(..HELLO_LEN) == Some(&hello(&m.token))
        });
        let (c, sent) = send(&listener, &bytes);
        match taker {
            Some(i) => {
                sent.expect("send to an accepting listener");
                let m = &mut made[i];
                let mut s = m
                    .grant
                    .as_ref()
                    .unwrap()
                    .stream(PATIENCE)
                    .expect("the grant of a connection with its exact hello gets the stream");
                m.used = true;
                s.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut payload = Vec::new();
                s.read_to_end(&mut payload).expect("the payload");
                assert_eq!(payload, bytes[HELLO_LEN..], "the payload after the hello");
                drop(s);
                assert_eq!(answer(c), b"OK\n");
            }
            None => {
                assert_eq!(answer(c), b"", "a refused connection is closed unanswered");
                refused += 1;
            }
        }
        for m in &made {
            if let Some(g) = &m.grant {
                assert!(g.stream(Duration::ZERO).is_none(), "a stream nobody sent");
            }
        }
    }
    // Counted just after the listener closes a connection.
    let until = Instant::now() + PATIENCE;
    while listener.refused() < refused && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(listener.refused(), refused, "connections refused");
    // A thread that read a hello ends with it; none is left behind.
    drop(listener);
    let until = Instant::now() + PATIENCE;
    while threads() > before && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(threads(), before, "threads left by the edge listener");
});
