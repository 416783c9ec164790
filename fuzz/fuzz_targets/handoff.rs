//! The handoff protocol from both sides, each against a fuzzed other side:
//! a function reading the runner's replies (grants with fds and
//! parameters, `END`, `NO`, anything), a runner reading a function's
//! request and its return value (`V` pieces, `E`, `K`, anything), and a
//! grant with fuzzed parameters going through whole.
//!
//! Each answer is checked against what the protocol (core/src/handoff.rs)
//! says it must be, and no fd that came with a message may leak. Every
//! message is queued before the call and the other side then hangs up or
//! the call has a timeout, so no call may block.

#![no_main]

use arbitrary::Arbitrary;
use faasin::handoff::{self, MAX_PARAMS, RESULT_PIECE};
use faasin_fuzz::{send, seqpacket_pair, without_fd_leak, Attach};
use libfuzzer_sys::fuzz_target;
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Body {
    /// `OK`, the two flag bytes, the parameters.
    Grant {
        input: u8,
        output: u8,
        params: Vec<u8>,
    },
    End,
    No(Vec<u8>),
    Raw(Vec<u8>),
    /// `prefix` then `len` filler bytes, for messages past the buffers.
    Long {
        prefix: Vec<u8>,
        len: u32,
    },
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Grant {
                input,
                output,
                params,
            } => [b"OK", &[*input, *output][..], params].concat(),
            Body::End => b"END".to_vec(),
            Body::No(reason) => [b"NO", reason.as_slice()].concat(),
            Body::Raw(b) => b.clone(),
            Body::Long { prefix, len } => {
                let mut b = prefix.clone();
                b.resize(
                    prefix.len() + (*len % (3 * MAX_PARAMS as u32)) as usize,
                    b'x',
                );
                b
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Message {
    body: Body,
    fds: Vec<Attach>,
}

/// A return value's message, from the function.
#[derive(Arbitrary, Debug)]
enum Piece {
    Value(Vec<u8>),
    /// A piece of this many filler bytes.
    LongValue(u16),
    E,
    K,
    Raw(Vec<u8>),
}

impl Piece {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Value(v) => [b"V", v.as_slice()].concat(),
            Piece::LongValue(n) => {
                let mut b = vec![b'v'; 1 + usize::from(*n)];
                b[0] = b'V';
                b
            }
            Piece::E => b"E".to_vec(),
            Piece::K => b"K".to_vec(),
            Piece::Raw(b) => b.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// The function's side: replies queued by the runner, read one after
    /// another on the same connection (a warm function that stays).
    Replies {
        replies: Vec<Message>,
        hang_up: bool,
    },
    /// The runner's side: a request.
    Request {
        body: Vec<u8>,
        fds: Vec<Attach>,
        send: bool,
    },
    /// The runner's side: a return value of at most `max` bytes.
    Result { pieces: Vec<Piece>, max: u16 },
    /// A grant with these parameters and ends, through.
    Grant {
        params: Vec<u8>,
        input: bool,
        output: bool,
    },
}

/// What a reply must come to: `None` for END, `Some((in, out, params))`
/// for a grant, `Err(kind)` for a refusal.
fn expected_reply(
    bytes: &[u8],
    fds: usize,
) -> Result<Option<(bool, bool, Option<String>)>, ErrorKind> {
    if bytes.is_empty() {
        return Err(ErrorKind::ConnectionAborted);
    }
    if bytes == b"END" && fds == 0 {
        return Ok(None);
    }
    if bytes.starts_with(b"NO") {
        return Err(ErrorKind::PermissionDenied);
    }
    if bytes.len() < 4 || !bytes.starts_with(b"OK") || bytes.len() - 4 > MAX_PARAMS {
        return Err(ErrorKind::InvalidData);
    }
    let Ok(params) = std::str::from_utf8(&bytes[4..]) else {
        return Err(ErrorKind::InvalidData);
    };
    // Flags 1 and 2 (an fd, an fd to keep) carry an fd; 3 (restart a
    // kept end) and 0 do not.
    let (i, o) = (bytes[2], bytes[3]);
    let carries = |flag: u8| usize::from(flag == 1 || flag == 2);
    if i > 3 || o > 3 || fds != carries(i) + carries(o) {
        return Err(ErrorKind::InvalidData);
    }
    let params = (!params.is_empty()).then(|| params.to_string());
    Ok(Some((carries(i) == 1, carries(o) == 1, params)))
}

fn replies(replies: &[Message], hang_up: bool) {
    let (runner, function) = seqpacket_pair();
    let mut sent = Vec::new();
    for m in replies.iter().take(4) {
        let fds: Vec<OwnedFd> = m.fds.iter().take(4).map(|a| a.open(None)).collect();
        let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let bytes = m.body.bytes();
        if send(runner.as_fd(), &bytes, &raw).is_ok() {
            sent.push((bytes, raw.len()));
        }
    }
    // With nothing queued, the function would wait for ever: hang up.
    let runner = if hang_up || sent.is_empty() {
        drop(runner);
        None
    } else {
        Some(runner)
    };
    let mut conn = function;
    let mut queued = sent.iter();
    loop {
        let Some((bytes, fds)) = queued.next() else {
            if runner.is_some() {
                return;
            }
            // The runner hung up after its replies.
            let e = handoff::next_invocation(conn).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionAborted, "{e}");
            return;
        };
        let got = handoff::next_invocation(conn);
        match (expected_reply(bytes, *fds), got) {
            (Ok(None), Ok(None)) => return,
            (Ok(Some((i, o, p))), Ok(Some((streams, next)))) => {
                assert_eq!(
                    (streams.input.is_some(), streams.output.is_some()),
                    (i, o),
                    "the ends of {bytes:?}"
                );
                assert_eq!(streams.params, p, "the parameters of {bytes:?}");
                conn = next;
            }
            (Err(kind), Err(e)) => {
                assert_eq!(e.kind(), kind, "{bytes:?}: {e}");
                return;
            }
            (want, got) => panic!("reply {bytes:?} with {fds} fds: want {want:?}, got {got:?}"),
        }
    }
}

fn request(body: &[u8], fds: &[Attach], sent: bool) {
    let (runner, function) = seqpacket_pair();
    let fds: Vec<OwnedFd> = fds.iter().take(4).map(|a| a.open(None)).collect();
    let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let sent = sent && send(function.as_fd(), body, &raw).is_ok();
    let got = handoff::read_request(runner.as_fd(), Duration::from_micros(100));
    let want = sent
        .then(|| body.strip_prefix(b"FAASIN-HANDOFF 1\n"))
        .flatten()
        .filter(|t| t.len() <= 1024)
        .and_then(|t| std::str::from_utf8(t).ok());
    match (want, got) {
        (Some(w), Ok(g)) => assert_eq!(w, g),
        (None, Err(e)) => assert!(
            matches!(
                e.kind(),
                ErrorKind::InvalidData | ErrorKind::WouldBlock | ErrorKind::TimedOut
            ),
            "{e}"
        ),
        (want, got) => panic!("request {body:?}: want {want:?}, got {got:?}"),
    }
}

/// What a return value must come to: the value kept, whether it was cut,
/// whether the function stays; or the error's kind.
fn expected_result(pieces: &[Vec<u8>], max: usize) -> Result<(Vec<u8>, bool, bool), ErrorKind> {
    let mut kept = Vec::new();
    let mut cut = false;
    for p in pieces {
        match p.split_first() {
            None => return Err(ErrorKind::UnexpectedEof),
            Some((end @ (b'E' | b'K'), [])) => return Ok((kept, cut, *end == b'K')),
            Some((b'V', v)) if p.len() <= RESULT_PIECE => {
                let room = max - kept.len();
                kept.extend_from_slice(&v[..v.len().min(room)]);
                cut |= v.len() > room;
            }
            Some(_) => return Err(ErrorKind::InvalidData),
        }
    }
    Err(ErrorKind::UnexpectedEof)
}

fn result(pieces: &[Piece], max: usize) {
    let (runner, function) = seqpacket_pair();
    let mut sent = Vec::new();
    for p in pieces.iter().take(8) {
        let bytes = p.bytes();
        if send(function.as_fd(), &bytes, &[]).is_ok() {
            sent.push(bytes);
        }
    }
    drop(function);
    let got = handoff::read_result_within(runner.as_fd(), max, Duration::from_millis(100));
    match (expected_result(&sent, max), got) {
        (Ok((value, cut, stays)), Ok(r)) => {
            assert_eq!((r.value, r.cut, r.stays), (value, cut, stays));
        }
        (Err(kind), Err(e)) => assert_eq!(e.kind(), kind, "{e}"),
        (want, got) => panic!("return value {sent:?} (max {max}): want {want:?}, got {got:?}"),
    }
}

fn grant(params: &[u8], input: bool, output: bool) {
    let (runner, function) = seqpacket_pair();
    let (r, w) = faasin::pipe_fds(4096).unwrap();
    let res = handoff::grant(
        runner.as_fd(),
        input.then_some(r.as_fd()),
        output.then_some(w.as_fd()),
        params,
    );
    let fits = params.len() <= MAX_PARAMS && std::str::from_utf8(params).is_ok();
    assert_eq!(res.is_ok(), fits, "{res:?}");
    drop(runner);
    let got = handoff::next_invocation(function);
    if !fits {
        // Nothing was sent: the function sees the hang-up.
        assert_eq!(got.unwrap_err().kind(), ErrorKind::ConnectionAborted);
        return;
    }
    let (streams, _conn) = got.unwrap().expect("a grant, not END");
    assert_eq!(
        (streams.input.is_some(), streams.output.is_some()),
        (input, output)
    );
    let want = std::str::from_utf8(params).unwrap();
    assert_eq!(
        streams.params.as_deref(),
        (!want.is_empty()).then_some(want)
    );
    // The ends came through and open as what they are.
    if let Some(fd) = streams.input {
        faasin::Reader::from_fd(fd).unwrap();
    }
    if let Some(fd) = streams.output {
        faasin::Writer::from_fd(fd).unwrap();
    }
}

fuzz_target!(|input: Input| {
    without_fd_leak(|| match &input {
        Input::Replies {
            replies: r,
            hang_up,
        } => replies(r, *hang_up),
        Input::Request { body, fds, send } => request(body, fds, *send),
        Input::Result { pieces, max } => result(pieces, usize::from(*max)),
        Input::Grant {
            params,
            input,
            output,
        } => grant(params, *input, *output),
    });
});
