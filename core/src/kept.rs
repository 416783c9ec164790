//! Kept ends: a warm function's end that outlives its invocation, so that
//! the next stream between the same two functions starts on it.
//!
//! A fresh stream costs an endpoint per end: a socket pair made, passed to
//! both functions, a hello with the ring memfd received and checked, the
//! sockets closed, and a reader that sleeps often sets up its wake-up pipe
//! again. For a warm chain of small functions that is most of what a hop
//! costs. A runner that knows both functions of an edge stay (they said so
//! with their return values) grants the edge's ends once to keep; for the
//! next invocations it grants "restart", and each function starts the next
//! stream on the socket, mapping and doorbell it kept.
//!
//! No message is needed to start a stream: ring positions run on across
//! streams, and each close flag holds the number of the last stream its
//! end closed (`ring::Side::stream`). A reader keeps its end only when it
//! read the stream to its end (the writer closed it and nothing is left),
//! so the next stream begins where the reader stands; a writer that
//! restarts waits until the reader closed the last stream, so that no byte
//! of the new stream is read as part of the old one. A function whose end
//! was not done with cleanly (read only in part, the peer gone) says so,
//! and the runner grants fresh ends again. The socket is still each end's
//! lifeline: the peer's exit is its hang-up.

use crate::bell::Bell;
use crate::mapping::Mapping;
use std::io;
use std::sync::{Arc, Mutex};

/// What a kept end keeps between streams.
pub(crate) struct KeptRing {
    pub(crate) map: Arc<Mapping>,
    pub(crate) bell: Arc<Bell>,
    pub(crate) capacity: u64,
    /// The stream it was last on.
    pub(crate) stream: u32,
}

enum State {
    /// Nothing kept.
    Empty,
    /// An open end on it.
    InUse,
    /// Its end closed cleanly: ready for the next stream.
    Free(KeptRing),
    /// Its end closed without finishing its stream cleanly (or was no
    /// ring): it cannot be restarted.
    Spoilt,
}

/// Where a warm function keeps one of its ends (input or output) between
/// invocations. An end granted to keep holds its slot and gives its ring
/// back when it closes.
pub(crate) struct Slot(Mutex<State>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match *self.state() {
            State::Empty => "empty",
            State::InUse => "in use",
            State::Free(_) => "free",
            State::Spoilt => "spoilt",
        };
        f.debug_tuple("Slot").field(&state).finish()
    }
}

impl Slot {
    pub(crate) fn new() -> Arc<Slot> {
        Arc::new(Slot(Mutex::new(State::Empty)))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An end opened on this slot's behalf now holds it.
    pub(crate) fn hold(&self) {
        *self.state() = State::InUse;
    }

    /// The kept ring, for the next stream; the slot is held from now on.
    pub(crate) fn take(&self) -> io::Result<KeptRing> {
        let mut st = self.state();
        let why = match std::mem::replace(&mut *st, State::InUse) {
            State::Free(ring) => return Ok(ring),
            State::Empty => "none was kept",
            State::InUse => "the last invocation's end is still open",
            State::Spoilt => "the last invocation's end was not done with cleanly",
        };
        *st = State::Spoilt;
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the FAASIN runner asked to restart a kept stream end, but {why}"),
        ))
    }

    /// The end closed: its ring if it may carry the next stream, else none.
    pub(crate) fn give_back(&self, ring: Option<KeptRing>) {
        *self.state() = ring.map_or(State::Spoilt, State::Free);
    }

    /// Whether the runner may restart what this slot keeps: nothing is
    /// open on it and nothing went wrong.
    pub(crate) fn restartable(&self) -> bool {
        matches!(*self.state(), State::Empty | State::Free(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::Reuse;
    use crate::{Reader, Writer};
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A ring's two ends, opened to be kept in fresh slots.
    fn kept_pair() -> (Arc<Slot>, Writer, Arc<Slot>, Reader) {
        let (r, w) = crate::pipe_fds(4096).unwrap();
        let (ws, rs) = (Slot::new(), Slot::new());
        let writer = Writer::granted(Some(w), Reuse::Keep, ws.clone()).unwrap();
        let reader = Reader::granted(Some(r), Reuse::Keep, rs.clone()).unwrap();
        (ws, writer, rs, reader)
    }

    fn restart(ws: &Arc<Slot>, rs: &Arc<Slot>) -> (Writer, Reader) {
        let w = Writer::granted(None, Reuse::Restart, ws.clone()).unwrap();
        let r = Reader::granted(None, Reuse::Restart, rs.clone()).unwrap();
        (w, r)
    }

    fn all(mut r: Reader) -> Vec<u8> {
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        got
    }

    #[test]
    fn each_restarted_stream_carries_its_own_bytes_and_its_own_eof() {
        let (ws, mut w, rs, r) = kept_pair();
        // More than the ring holds, so positions run on past a wrap.
        let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let t = std::thread::spawn(move || {
            w.write_all(&big).unwrap();
        });
        assert_eq!(all(r).len(), 10_000);
        t.join().unwrap();
        assert!(ws.restartable() && rs.restartable());
        for k in 0..5u8 {
            let (mut w, r) = restart(&ws, &rs);
            assert!(!ws.restartable(), "held while open");
            w.write_all(&[k; 3]).unwrap();
            drop(w);
            assert_eq!(all(r), [k; 3], "stream {k}");
        }
        // An empty stream is a stream too.
        let (w, r) = restart(&ws, &rs);
        drop(w);
        assert!(all(r).is_empty());
        assert!(ws.restartable() && rs.restartable());
    }

    #[test]
    fn a_restarted_writer_waits_until_the_reader_is_done_with_the_last_stream() {
        let (ws, mut w, rs, mut r) = kept_pair();
        w.write_all(b"first").unwrap();
        drop(w);
        let mut five = [0u8; 5];
        r.read_exact(&mut five).unwrap();
        let ws2 = ws.clone();
        let t = std::thread::spawn(move || {
            let mut w = Writer::granted(None, Reuse::Restart, ws2).unwrap();
            w.write_all(b"second").unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        // The old stream still ends where its writer closed it.
        assert_eq!(r.read(&mut five).unwrap(), 0);
        assert!(!t.is_finished(), "the writer waits for the reader's close");
        drop(r);
        t.join().unwrap();
        let r = Reader::granted(None, Reuse::Restart, rs).unwrap();
        assert_eq!(all(r), b"second");
    }

    #[test]
    fn an_end_not_done_with_cleanly_cannot_restart() {
        // The reader closes with bytes unread.
        let (ws, mut w, rs, r) = kept_pair();
        w.write_all(b"unread").unwrap();
        drop(w);
        drop(r);
        assert!(ws.restartable());
        assert!(!rs.restartable());
        let e = Reader::granted(None, Reuse::Restart, rs.clone()).unwrap_err();
        assert!(e.to_string().contains("not done with cleanly"), "{e}");
        // The reader closes before the writer did.
        let (_ws, w, rs, r) = kept_pair();
        drop(r);
        drop(w);
        assert!(!rs.restartable());
        // Nothing kept at all.
        let e = Writer::granted(None, Reuse::Restart, Slot::new()).unwrap_err();
        assert!(e.to_string().contains("none was kept"), "{e}");
    }

    #[test]
    fn a_restarted_end_whose_peer_is_gone_gets_an_error() {
        let (ws, w, rs, r) = kept_pair();
        drop(w);
        assert!(all(r).is_empty());
        // The reader's process is gone: its kept socket closes.
        drop(rs);
        let e = Writer::granted(None, Reuse::Restart, ws.clone());
        // Its last close was seen, so the restart itself succeeds; the
        // hang-up shows at the first wait, as with a fresh end.
        let mut w = e.unwrap();
        let e = w.write_all(&[0u8; 8192]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        // A writer that waits for a reader that never closed the last
        // stream sees its hang-up.
        let (ws, w, _rs, r) = kept_pair();
        drop(w);
        let t = std::thread::spawn(move || Writer::granted(None, Reuse::Restart, ws).map(drop));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!t.is_finished());
        // Its socket hangs up as at the exit of its process.
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown of a socket fd that `r` owns and keeps open.
        assert_eq!(unsafe { libc::shutdown(r.as_raw_fd(), libc::SHUT_RDWR) }, 0);
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        drop(r);
    }
}
