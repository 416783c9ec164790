//! The ring at open and during reads and writes: our end (a Reader or a
//! Writer) on a real ring, and in the same process its peer, which keeps
//! its own mapping of the memfd and its own end of the socket. Between our
//! calls the peer either plays its part honestly (moves bytes, closes,
//! hangs up) or scribbles over the header (positions, flags, hints, the
//! static line) and sends junk with fds on the socket.
//!
//! Every call must return (our end never blocks without a timeout while the
//! peer lives), touch only its mapping, and leak no fd. While the peer is
//! honest the results are checked against a model of the stream: every
//! byte arrives once, in order, EOF only after all of them, `WouldBlock`
//! only when nothing can move, `BrokenPipe` only once the reader left.

#![no_main]

use arbitrary::Arbitrary;
use faasin::{Reader, Writer};
use faasin_fuzz::{
    add_seals, hello, memfd, off, send, seqpacket_pair, without_fd_leak, write_static_line, Attach,
    PeerMap, HELLO_MAGIC, PAGE, REQUIRED_SEALS, RING_MAGIC, VERSION,
};
use libfuzzer_sys::fuzz_target;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Start {
    Zero,
    /// Both positions at this value (an honest ring that streamed before).
    Same(u64),
    Apart {
        write: u64,
        read: u64,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pos {
    Write,
    Read,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    WriterCpu,
    ReaderCpu,
    ReaderWaiting,
    ReaderClosed,
    WriterWaiting,
    WriterClosed,
    Version,
    HeaderSize,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mode {
    NonBlocking,
    /// Non-blocking, spinning for this many microseconds (mod 16) first.
    NonBlockingSpin(u8),
    /// Blocking with a timeout of this many microseconds (mod 256, + 1).
    Timeout(u8),
    /// Blocking without a timeout: only once the peer hung up (every wait
    /// must then end); a timeout of a microsecond before.
    Blocking,
}

#[derive(Arbitrary, Debug)]
enum Op {
    // The peer, hostile.
    SetPos(Pos, u64),
    NudgePos(Pos, i16),
    SetWord(Word, u32),
    SetMagic(u64),
    SetCapacity(u64),
    Junk { len: u8, fds: Vec<Attach> },
    // The peer, honest.
    PeerMoves(u16),
    PeerCloses,
    PeerHangsUp,
    // Our reader.
    Read(u16),
    FillBuf,
    Consume(u16),
    Release(u16),
    ReleaseQuietly(u16),
    Available,
    // Our writer.
    Write(u16),
    Reserve { min: u16, commit: u16 },
    ReserveSlice(u16),
    Commit(u16),
    Flush,
    // Either.
    Mode(Mode),
}

#[derive(Arbitrary, Debug)]
struct Input {
    reader: bool,
    /// 8 KiB instead of 4 KiB.
    big: bool,
    start: Start,
    ops: Vec<Op>,
}

/// Byte `k` of the stream: varies with the position, so a byte out of place
/// or from the wrong lap shows.
fn pattern(k: u64) -> u8 {
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

enum Ours {
    R(Reader),
    W(Writer),
}

/// The peer and the model of the stream.
struct World {
    cap: u64,
    map: PeerMap,
    sock: Option<OwnedFd>,
    /// No hostile act so far: the model holds and is checked.
    clean: bool,
    /// Where the stream started (both positions, when clean).
    base: u64,
    /// The peer's own position (its write_pos or read_pos).
    peer_pos: u64,
    /// Bytes committed by the writer and consumed by the reader, from `base`.
    written: u64,
    consumed: u64,
    /// The peer set its close flag; it hung up, or sent an empty message
    /// (which a SEQPACKET socket reads as the hang-up).
    closed: bool,
    hung_up: bool,
    /// Our reader's borrowed span and our writer's reserved one.
    borrowed: u64,
    reserved: u64,
}

impl World {
    fn taint(&mut self) {
        self.clean = false;
    }

    fn ring_doorbell(&self) {
        if let Some(s) = &self.sock {
            let _ = send(s.as_fd(), &[1], &[]);
        }
    }

    fn pos_word(&self, p: Pos) -> &std::sync::atomic::AtomicU64 {
        self.map.u64_at(match p {
            Pos::Write => off::WRITE_POS,
            Pos::Read => off::READ_POS,
        })
    }

    /// The peer as an honest writer: up to `n` bytes into free space.
    fn peer_writes(&mut self, n: u64) {
        let read = self.map.u64_at(off::READ_POS).load(Acquire);
        let used = self.peer_pos.wrapping_sub(read);
        let k = n.min(self.cap.saturating_sub(used));
        for i in 0..k {
            let at = self.peer_pos.wrapping_add(i);
            let byte = pattern(at.wrapping_sub(self.base));
            // SAFETY: an offset below the capacity, inside the data area.
            unsafe { *self.map.data((at % self.cap) as usize) = byte };
        }
        self.peer_pos = self.peer_pos.wrapping_add(k);
        self.map
            .u64_at(off::WRITE_POS)
            .store(self.peer_pos, Release);
        self.written += k;
        if self.map.u32_at(off::READER_WAITING).swap(0, AcqRel) != 0 {
            self.ring_doorbell();
        }
    }

    /// The peer as an honest reader: up to `n` committed bytes, checked.
    fn peer_reads(&mut self, n: u64) {
        let write = self.map.u64_at(off::WRITE_POS).load(Acquire);
        let avail = write.wrapping_sub(self.peer_pos);
        if self.clean {
            assert_eq!(
                avail,
                self.written - self.consumed,
                "write_pos in the header"
            );
        }
        let k = n.min(avail).min(self.cap);
        for i in 0..k {
            let at = self.peer_pos.wrapping_add(i);
            // SAFETY: an offset below the capacity, inside the data area.
            let byte = unsafe { *self.map.data((at % self.cap) as usize) };
            if self.clean {
                let k = at.wrapping_sub(self.base);
                assert_eq!(byte, pattern(k), "byte {k} of the stream");
            }
        }
        self.peer_pos = self.peer_pos.wrapping_add(k);
        self.map.u64_at(off::READ_POS).store(self.peer_pos, Release);
        self.consumed += k;
        if self.map.u32_at(off::WRITER_WAITING).swap(0, AcqRel) != 0 {
            self.ring_doorbell();
        }
    }

    /// Bytes committed and not consumed (meaningful while clean).
    fn readable(&self) -> u64 {
        self.written.wrapping_sub(self.consumed).min(self.cap)
    }

    /// Free bytes (meaningful while clean).
    fn free(&self) -> u64 {
        self.cap - self.readable()
    }

    fn gone(&self) -> bool {
        self.closed || self.hung_up
    }

    /// Checks bytes our reader got, as the stream's next ones.
    fn check_read(&self, got: &[u8]) {
        assert!(
            got.len() as u64 <= self.cap,
            "more than the capacity at once"
        );
        if self.clean {
            for (i, b) in got.iter().enumerate() {
                let k = self.consumed + i as u64;
                assert_eq!(*b, pattern(k), "byte {k} of the stream");
            }
        }
    }
}

/// What an error may be, clean or not.
fn allowed(e: &io::Error, reader: bool) {
    let ok = nothing_yet(e)
        || e.kind() == ErrorKind::InvalidData
        || (!reader && e.kind() == ErrorKind::BrokenPipe);
    assert!(ok, "unexpected {:?}: {e}", e.kind());
}

/// A wait that finds nothing ends like this while the peer is there: in
/// non-blocking mode, at its timeout, or cut by a signal (libFuzzer's timer).
fn nothing_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn set_mode(ours: &mut Ours, mode: Mode, hung_up: bool) {
    let (nonblocking, spin, timeout) = match mode {
        Mode::NonBlocking => (true, None, None),
        Mode::NonBlockingSpin(us) => (true, Some(u64::from(us % 16)), None),
        Mode::Timeout(us) => (false, None, Some(u64::from(us) + 1)),
        Mode::Blocking if hung_up => (false, None, None),
        Mode::Blocking => (false, None, Some(1)),
    };
    let timeout = timeout.map(Duration::from_micros);
    let spin = Duration::from_micros(spin.unwrap_or(0));
    macro_rules! apply {
        ($e:expr) => {{
            $e.set_nonblocking(nonblocking).unwrap();
            $e.set_nonblocking_spin(!spin.is_zero());
            $e.set_spin(spin);
            $e.set_timeout(timeout);
        }};
    }
    match ours {
        Ours::R(r) => apply!(r),
        Ours::W(w) => apply!(w),
    }
}

/// An honest ring of `cap` bytes with positions as `start` says; our end
/// opened on it, and the peer's mapping and socket.
fn setup(input: &Input, cap: u64) -> io::Result<(Ours, World)> {
    let ring = memfd(PAGE as u64 + cap, true);
    write_static_line(ring.as_fd(), RING_MAGIC, cap, VERSION, PAGE as u32);
    add_seals(ring.as_fd(), REQUIRED_SEALS);
    let map = PeerMap::new(ring.as_fd(), PAGE + cap as usize);
    let (write, read, clean) = match input.start {
        Start::Zero => (0, 0, true),
        Start::Same(v) => (v, v, true),
        Start::Apart { write, read } => (write, read, false),
    };
    map.u64_at(off::WRITE_POS).store(write, Relaxed);
    map.u64_at(off::READ_POS).store(read, Relaxed);
    let (ours, theirs) = seqpacket_pair();
    let role = if input.reader { 1 } else { 2 };
    send(
        theirs.as_fd(),
        &hello(HELLO_MAGIC, VERSION, role, PAGE as u32, cap),
        &[ring.as_raw_fd()],
    )?;
    let end = if input.reader {
        Ours::R(Reader::from_fd(ours)?)
    } else {
        Ours::W(Writer::from_fd(ours)?)
    };
    let world = World {
        cap,
        map,
        sock: Some(theirs),
        clean,
        base: read,
        peer_pos: if input.reader { write } else { read },
        written: 0,
        consumed: 0,
        closed: false,
        hung_up: false,
        borrowed: 0,
        reserved: 0,
    };
    Ok((end, world))
}

fn run(input: &Input) {
    let cap = if input.big { 2 * PAGE } else { PAGE } as u64;
    let (mut ours, mut w) = match setup(input, cap) {
        Ok(x) => x,
        Err(e) => {
            // Only positions that break the invariant are refused.
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
            assert!(matches!(input.start, Start::Apart { .. }), "refused: {e}");
            return;
        }
    };
    set_mode(&mut ours, Mode::NonBlocking, false);
    let mut scratch = vec![0u8; 3 * cap as usize];
    for op in input.ops.iter().take(64) {
        step(op, &mut ours, &mut w, &mut scratch);
    }
}

fn step(op: &Op, ours: &mut Ours, w: &mut World, scratch: &mut [u8]) {
    let reader = matches!(ours, Ours::R(_));
    match (op, ours) {
        (Op::SetPos(p, v), _) => {
            w.pos_word(*p).store(*v, Relaxed);
            w.taint();
        }
        (Op::NudgePos(p, d), _) => {
            let word = w.pos_word(*p);
            word.store(word.load(Relaxed).wrapping_add(*d as i64 as u64), Relaxed);
            w.taint();
        }
        (Op::SetWord(word, v), _) => {
            let at = match word {
                Word::WriterCpu => off::WRITER_CPU,
                Word::ReaderCpu => off::READER_CPU,
                Word::ReaderWaiting => off::READER_WAITING,
                Word::ReaderClosed => off::READER_CLOSED,
                Word::WriterWaiting => off::WRITER_WAITING,
                Word::WriterClosed => off::WRITER_CLOSED,
                Word::Version => off::VERSION,
                Word::HeaderSize => off::HEADER_SIZE,
            };
            w.map.u32_at(at).store(*v, Relaxed);
            // The CPU hints are advisory, the waiting flags only decide
            // doorbells (and our calls never sleep past one), and the
            // static line is read only at open: none may change what the
            // stream does. A close flag set or cleared by hand does.
            if matches!(word, Word::ReaderClosed | Word::WriterClosed) {
                w.taint();
            }
        }
        (Op::SetMagic(v), _) => w.map.u64_at(off::MAGIC).store(*v, Relaxed),
        (Op::SetCapacity(v), _) => w.map.u64_at(off::CAPACITY).store(*v, Relaxed),
        (Op::Junk { len, fds }, _) => {
            // Junk is a doorbell to the protocol: harmless, and its fds are
            // closed unread; but an empty message is a hang-up, a fake one
            // while the peer lives: a reader asleep on its wake-up pipe
            // sees only the real one, so the stream is no longer checked.
            if let Some(s) = &w.sock {
                let fds: Vec<_> = fds.iter().take(4).map(|a| a.open(None)).collect();
                let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
                if send(s.as_fd(), &vec![0xA5; usize::from(*len)], &raw).is_ok() && *len == 0 {
                    w.hung_up = true;
                    w.taint();
                }
            }
        }
        (Op::PeerMoves(n), _) => {
            if w.gone() {
                return;
            }
            if reader {
                w.peer_writes(u64::from(*n));
            } else {
                w.peer_reads(u64::from(*n));
            }
        }
        (Op::PeerCloses, _) => {
            let (flag, waiting) = if reader {
                (off::WRITER_CLOSED, off::READER_WAITING)
            } else {
                (off::READER_CLOSED, off::WRITER_WAITING)
            };
            w.map.u32_at(flag).store(1, Release);
            w.closed = true;
            if w.map.u32_at(waiting).swap(0, AcqRel) != 0 {
                w.ring_doorbell();
            }
        }
        (Op::PeerHangsUp, _) => {
            w.sock = None;
            w.hung_up = true;
        }
        (Op::Mode(m), ours) => set_mode(ours, *m, w.sock.is_none()),

        (Op::Read(len), Ours::R(r)) => {
            let len = usize::from(*len) % (scratch.len() + 1);
            let got = r.read(&mut scratch[..len]);
            // A read of nothing returns at once, leaving the borrow.
            if len > 0 {
                w.borrowed = 0;
            }
            match got {
                Ok(n) => {
                    assert!(n <= len);
                    w.check_read(&scratch[..n]);
                    if w.clean {
                        // At least a byte if any is there (what the end
                        // saw last may be fewer than all).
                        assert!(n as u64 <= w.readable(), "read past the writer");
                        if n == 0 && len > 0 {
                            assert!(w.readable() == 0, "a read of nothing with bytes there");
                            assert!(w.gone(), "EOF while the writer is there");
                        }
                        w.consumed += n as u64;
                    }
                }
                Err(e) => {
                    allowed(&e, true);
                    if w.clean {
                        assert!(nothing_yet(&e) && w.readable() == 0 && !w.gone(), "{e}");
                    }
                }
            }
        }
        (Op::FillBuf, Ours::R(r)) => match r.fill_buf() {
            Ok(span) => {
                w.check_read(span);
                if w.clean {
                    assert!(span.len() as u64 <= w.readable(), "a span past the writer");
                    if span.is_empty() {
                        assert!(w.readable() == 0, "an empty span with bytes there");
                        assert!(w.gone(), "EOF while the writer is there");
                    }
                }
                w.borrowed = span.len() as u64;
            }
            Err(e) => {
                allowed(&e, true);
                if w.clean {
                    assert!(nothing_yet(&e) && w.readable() == 0 && !w.gone(), "{e}");
                }
            }
        },
        (Op::Consume(n), Ours::R(r)) => {
            let n = u64::from(*n).min(w.borrowed);
            r.consume(n as usize);
            w.borrowed -= n;
            if w.clean {
                w.consumed += n;
            }
        }
        (Op::Release(n) | Op::ReleaseQuietly(n), Ours::R(r)) => {
            let n = u64::from(*n);
            let res = if matches!(op, Op::Release(_)) {
                r.release(n as usize)
            } else {
                r.release_quietly(n as usize)
            };
            match res {
                Ok(()) => {
                    assert!(n <= w.borrowed, "released more than was borrowed");
                    w.borrowed -= n;
                    if w.clean {
                        w.consumed += n;
                    }
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                    assert!(n > w.borrowed, "refused a release within the borrow");
                }
            }
        }
        (Op::Available, Ours::R(r)) => match r.available() {
            Ok(n) => {
                assert!(n as u64 <= w.cap);
                if w.clean {
                    assert_eq!(n as u64, w.readable());
                }
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                assert!(!w.clean, "{e}");
            }
        },

        (Op::Write(len), Ours::W(wr)) => {
            let len = u64::from(*len);
            let src: Vec<u8> = (0..len).map(|i| pattern(w.written + i)).collect();
            let free = w.free();
            let res = wr.write(&src);
            // A write of nothing returns at once, leaving the reservation.
            if len > 0 {
                w.reserved = 0;
            }
            match res {
                Ok(n) => {
                    assert!(n as u64 <= len);
                    if w.clean {
                        assert!(!w.closed || len == 0, "wrote after the reader closed");
                        assert_eq!(n as u64, len.min(free), "short write");
                        w.written += n as u64;
                    }
                }
                Err(e) => {
                    allowed(&e, false);
                    if w.clean {
                        let why = if e.kind() == ErrorKind::BrokenPipe {
                            w.gone()
                        } else {
                            nothing_yet(&e) && free == 0 && !w.gone()
                        };
                        assert!(why, "{e} (free {free})");
                    }
                }
            }
        }
        (Op::Reserve { min, commit }, Ours::W(wr)) => {
            let min = u64::from(*min);
            let free = w.free();
            let written = w.written;
            match wr.reserve(min as usize) {
                Ok(mut g) => {
                    let len = g.len() as u64;
                    assert!(len <= w.cap && len >= min);
                    if w.clean {
                        assert!(!w.closed, "reserved after the reader closed");
                        assert!(
                            len <= free && (len > 0 || free == 0),
                            "reserved {len} of {free}"
                        );
                    }
                    for (i, b) in g.iter_mut().enumerate() {
                        *b = pattern(written + i as u64);
                    }
                    let k = u64::from(*commit).min(len);
                    g.commit(k as usize).unwrap();
                    w.reserved = 0;
                    if w.clean {
                        w.written += k;
                    }
                }
                Err(e) => {
                    w.reserved = 0;
                    if min > w.cap {
                        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                        return;
                    }
                    allowed(&e, false);
                    if w.clean {
                        let why = if e.kind() == ErrorKind::BrokenPipe {
                            w.gone()
                        } else {
                            nothing_yet(&e) && free < min && !w.gone()
                        };
                        assert!(why, "{e} (free {free}, min {min})");
                    }
                }
            }
        }
        (Op::ReserveSlice(min), Ours::W(wr)) => {
            let written = w.written;
            match wr.reserve_slice(usize::from(*min)) {
                Ok(s) => {
                    assert!(s.len() as u64 <= w.cap);
                    for (i, b) in s.iter_mut().enumerate() {
                        *b = pattern(written + i as u64);
                    }
                    w.reserved = s.len() as u64;
                }
                Err(e) => {
                    w.reserved = 0;
                    if u64::from(*min) <= w.cap {
                        allowed(&e, false);
                    }
                }
            }
        }
        (Op::Commit(n), Ours::W(wr)) => {
            let n = u64::from(*n);
            match wr.commit(n as usize) {
                Ok(()) => {
                    assert!(n <= w.reserved, "committed more than was reserved");
                    w.reserved = 0;
                    if w.clean {
                        assert!(!w.closed, "committed after the reader closed");
                        w.written += n;
                    }
                }
                Err(e) if n > w.reserved => assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}"),
                Err(e) => {
                    w.reserved = 0;
                    allowed(&e, false);
                    if w.clean {
                        assert!(e.kind() == ErrorKind::BrokenPipe && w.gone(), "{e}");
                    }
                }
            }
        }
        (Op::Flush, Ours::W(wr)) => match wr.flush() {
            Ok(()) => {
                if w.clean {
                    assert!(!w.gone() || w.readable() == 0, "flush hid unread bytes");
                }
            }
            Err(e) => {
                allowed(&e, false);
                if w.clean {
                    assert!(
                        e.kind() == ErrorKind::BrokenPipe && w.gone() && w.readable() > 0,
                        "{e}"
                    );
                }
            }
        },
        // An operation of the other end.
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    without_fd_leak(|| run(&input));
});
