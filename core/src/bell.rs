//! The doorbell of a ring end: its endpoint socket, and beside it, once a
//! reader has slept often enough to pay for it, a pipe on which the reader
//! sleeps.
//!
//! A one-byte message on the socket wakes a sleeper as a unix socket does:
//! the kernel allocates, queues and frees a buffer per message, which costs
//! a sleeping reader several microseconds per wake-up more than a pipe. A
//! pipe costs its setup instead (made, passed, checked and closed: a dozen
//! system calls), which a short stream, woken once or twice, never earns
//! back. So every stream starts with the socket alone, and a reader that
//! has slept [`SOCKET_SLEEPS`] times in blocking reads offers the writer a
//! pipe: it makes one, sends its write end and a read end in one message on
//! the socket (the offer), keeps the other read end, and from then on arms
//! its waiting flag with [`ON_PIPE`] and sleeps in `read` on the pipe; the
//! writer wakes it with a one-byte `write`, what a plain pipe costs.
//!
//! The writer takes the offer when it reads its socket anyway, or at the
//! latest when it first finds [`ON_PIPE`] armed: the offer was queued
//! before the flag was armed, so it is there. Only the writer holds the
//! pipe's write end, so the reader's read sees the writer exit or crash as
//! end of file; an offer the writer never took closes with the writer's
//! socket, which is end of file too. The pipe is a lifeline, as the socket.
//!
//! The socket stays the end's one pollable fd. A reader waiting through
//! its caller's poll (non-blocking mode: epoll, tokio, asyncio, libuv)
//! arms with [`ON_SOCKET`], and the writer rings the socket for it. The
//! writer, which sleeps only on a full ring, where wake-ups are rare,
//! sleeps on the socket either way.

use crate::endpoint::{self, Role};
use crate::sysfd;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// A waiting flag armed with this asks for a wake-up on the socket.
pub(crate) const ON_SOCKET: u32 = 1;
/// A waiting flag armed with this asks for a wake-up on the reader's pipe.
pub(crate) const ON_PIPE: u32 = 2;

/// The blocking sleeps on the socket after which a reader offers a pipe.
const SOCKET_SLEEPS: u32 = 4;

/// The payload of the offer message (its fds: the pipe's write end, then a
/// read end).
const OFFER: &[u8] = b"P";

/// `sleeps` of a reader whose offer failed: it stays on the socket.
const NO_PIPE: u32 = u32::MAX;

/// An end's doorbell (see the module documentation).
pub(crate) struct Bell {
    sock: OwnedFd,
    role: Role,
    /// The wake-up pipe, once offered (reader) or taken (writer).
    pipe: OnceLock<Pipe>,
    /// The reader's blocking sleeps on the socket, counted up to
    /// `SOCKET_SLEEPS` (or `NO_PIPE`). Only the thread in a wait uses it;
    /// an atomic (Relaxed) only so that the end stays `Sync`.
    sleeps: AtomicU32,
}

/// An end's share of the reader's wake-up pipe.
enum Pipe {
    /// The reader's: the read end it sleeps on.
    SleepOn(OwnedFd),
    /// The writer's: the write end it rings the reader through, and a read
    /// end that is never read. Holding it, the writer's write can never
    /// find the pipe without readers, which would raise SIGPIPE (a pipe has
    /// no `MSG_NOSIGNAL`) and kill a process that did not ignore it.
    RingThrough { tx: OwnedFd, _hold: OwnedFd },
}

impl Bell {
    /// The doorbell of the `role` end on `sock`, with no pipe yet.
    pub(crate) fn new(sock: OwnedFd, role: Role) -> Bell {
        Bell {
            sock,
            role,
            pipe: OnceLock::new(),
            sleeps: AtomicU32::new(0),
        }
    }

    /// The endpoint socket: the fd to poll.
    pub(crate) fn sock(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// The reader's: whether it sleeps on its pipe, offering one first if
    /// it has slept on the socket often enough. A failed offer (no fds
    /// left, the writer gone or not reading its socket) leaves it on the
    /// socket for the rest of the stream.
    fn on_pipe(&self) -> bool {
        if self.pipe.get().is_some() {
            return true;
        }
        if self.sleeps.load(Ordering::Relaxed) != SOCKET_SLEEPS {
            return false;
        }
        match self.offer() {
            Ok(rx) => self.pipe.set(Pipe::SleepOn(rx)).is_ok(),
            Err(_) => {
                self.sleeps.store(NO_PIPE, Ordering::Relaxed);
                false
            }
        }
    }

    /// Makes the pipe and sends the writer its share; returns the read end
    /// to sleep on. Our copy of the write end closes on return, so that the
    /// writer's is the only one.
    fn offer(&self) -> io::Result<OwnedFd> {
        let (rx, tx) = sysfd::pipe()?;
        let fds = [tx.as_raw_fd(), rx.as_raw_fd()];
        endpoint::send_with_fds_flags(self.sock(), OFFER, &fds, libc::MSG_DONTWAIT)?;
        Ok(rx)
    }

    /// The writer's: the pipe's write end, taking the reader's offer off
    /// the socket first if it has not yet (reading doorbells before it,
    /// which only tell a sleeping writer to look at the ring again).
    fn ring_through(&self) -> Option<BorrowedFd<'_>> {
        while self.pipe.get().is_none() {
            match self.take_message(libc::MSG_DONTWAIT) {
                Ok(Some(false)) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        match self.pipe.get() {
            Some(Pipe::RingThrough { tx, .. }) => Some(tx.as_fd()),
            _ => None,
        }
    }

    /// The writer's read of one message off its socket: `Some(true)` for
    /// the hang-up, `Some(false)` for a doorbell or an offer (taken if it
    /// is a good one), `None` if none is queued and `flags` do not wait.
    fn take_message(&self, flags: libc::c_int) -> io::Result<Option<bool>> {
        let mut buf = [0u8; 8];
        // One fd more than an offer carries, to tell one that carries more.
        match endpoint::recv_with_fds(self.sock(), &mut buf, 3, flags) {
            Ok((0, _)) => Ok(Some(true)),
            Ok((n, fds)) => {
                if !fds.is_empty() {
                    self.take_offer(&buf[..n], fds);
                }
                Ok(Some(false))
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                io::ErrorKind::ConnectionReset => Ok(Some(true)),
                _ => Err(e),
            },
        }
    }

    /// Keeps the pipe of a good offer: an offer's payload with a write end
    /// and a read end of one pipe, the first such. Anything else (a hostile
    /// reader's) is closed and ignored: the writer then rings the socket.
    fn take_offer(&self, payload: &[u8], fds: Vec<OwnedFd>) {
        let Ok([tx, hold]) = <[OwnedFd; 2]>::try_from(fds) else {
            return;
        };
        let (a, b) = (fifo_id(tx.as_fd()), fifo_id(hold.as_fd()));
        if payload != OFFER || a.is_none() || a != b || !is_read_end(hold.as_fd()) {
            return;
        }
        // The ring never waits for room in the pipe (see `ring_pipe`);
        // this covers kernels that ignore RWF_NOWAIT on pipes.
        if sysfd::set_nonblocking(tx.as_fd(), true).is_ok() {
            let _ = self.pipe.set(Pipe::RingThrough { tx, _hold: hold });
        }
    }

    /// The writer's sleep: one blocking read of a message, or, with a
    /// deadline, a `poll` bounded by what is left of it (the wait loop
    /// drains what woke it).
    fn writer_sleep(&self, deadline: Option<Instant>, what: &str) -> io::Result<bool> {
        if let Some(d) = deadline {
            sysfd::poll(self.sock(), libc::POLLIN, Some(sysfd::time_left(d, what)?))?;
            return Ok(false);
        }
        match self.take_message(0)? {
            Some(hung_up) => Ok(hung_up),
            // The socket was made non-blocking under us (an event loop).
            None => sysfd::poll(self.sock(), libc::POLLIN, None).map(|_| false),
        }
    }

    /// The writer's drain: every queued message, taking an offer among them.
    fn writer_drain(&self) -> io::Result<bool> {
        loop {
            match self.take_message(libc::MSG_DONTWAIT) {
                Ok(None) => return Ok(false),
                Ok(Some(true)) => return Ok(true),
                Ok(Some(false)) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// (device, inode) of `fd` if it is a pipe; the two ends of one pipe share
/// them.
fn fifo_id(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    // SAFETY: all-zero is a valid stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out-pointer for fstat.
    let ok = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0;
    (ok && st.st_mode & libc::S_IFMT == libc::S_IFIFO).then_some((st.st_dev, st.st_ino))
}

fn is_read_end(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL on a borrowed, open fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDONLY
}

impl crate::wait::Doorbell for Bell {
    fn arm_as(&self, polled: bool) -> u32 {
        if self.role == Role::Reader && !polled && self.on_pipe() {
            ON_PIPE
        } else {
            ON_SOCKET
        }
    }

    fn ring(&self, armed: u32) {
        if armed == ON_PIPE && self.role == Role::Writer {
            if let Some(tx) = self.ring_through() {
                return ring_pipe(tx);
            }
        }
        endpoint::ring(self.sock())
    }

    fn drain(&self) -> io::Result<bool> {
        match self.role {
            Role::Reader => endpoint::drain(self.sock()),
            Role::Writer => self.writer_drain(),
        }
    }

    fn sleep(&self, deadline: Option<Instant>, what: &str) -> io::Result<bool> {
        match (self.role, self.pipe.get()) {
            (Role::Writer, _) => self.writer_sleep(deadline, what),
            (Role::Reader, Some(Pipe::SleepOn(rx))) => sleep_on_pipe(rx.as_fd(), deadline, what),
            (Role::Reader, _) => {
                let n = self.sleeps.load(Ordering::Relaxed);
                if n < SOCKET_SLEEPS {
                    self.sleeps.store(n + 1, Ordering::Relaxed);
                }
                endpoint::sleep(self.sock(), deadline, what)
            }
        }
    }
}

/// Writes one wake-up byte, never waiting for room: a full pipe means
/// wake-ups are pending already. Errors are ignored, as for the socket's
/// doorbell: the reader holds its end until it is gone, and the pipe never
/// loses its last reader (see `Pipe::RingThrough`).
fn ring_pipe(tx: BorrowedFd<'_>) {
    let b = [1u8];
    let iov = libc::iovec {
        iov_base: b.as_ptr() as *mut _,
        iov_len: 1,
    };
    // SAFETY: iov describes one valid byte. RWF_NOWAIT makes this one call
    // non-blocking whatever another holder of the fd set with fcntl.
    let n = unsafe { libc::pwritev2(tx.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
    if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) {
        // A kernel without RWF_NOWAIT on pipes: the fd is non-blocking.
        // SAFETY: b is a valid 1-byte buffer.
        unsafe { libc::write(tx.as_raw_fd(), b.as_ptr().cast(), 1) };
    }
}

/// Reads what wake-up bytes there are, up to a buffer; `nowait` never
/// waits, whatever the fd's flags. Returns the count, 0 at end of file.
fn read_pipe(rx: BorrowedFd<'_>, nowait: bool) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let flags = if nowait { libc::RWF_NOWAIT } else { 0 };
    // SAFETY: iov describes buf, valid for 64 writable bytes.
    let mut n = unsafe { libc::preadv2(rx.as_raw_fd(), &iov, 1, -1, flags) };
    if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) {
        // A kernel without RWF_NOWAIT on pipes: a plain read. Only a writer
        // that reads the reader's pipe itself can make it wait longer.
        // SAFETY: as above.
        n = unsafe { libc::read(rx.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The reader's sleep: one blocking `read` of the pipe, or, with a deadline,
/// a `poll` bounded by what is left of it and a read that does not wait.
/// True at end of file: the writer is gone. The writer shares the pipe's
/// read end and could make it non-blocking; then `poll` does the waiting.
fn sleep_on_pipe(rx: BorrowedFd<'_>, deadline: Option<Instant>, what: &str) -> io::Result<bool> {
    loop {
        if let Some(d) = deadline {
            sysfd::poll(rx, libc::POLLIN, Some(sysfd::time_left(d, what)?))?;
        }
        match read_pipe(rx, deadline.is_some()) {
            Ok(n) => return Ok(n == 0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if deadline.is_none() {
                    sysfd::poll(rx, libc::POLLIN, None)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Doorbell;
    use std::os::fd::RawFd;
    use std::time::Duration;

    /// A reader's and a writer's doorbell, connected as a new stream's are.
    fn pair() -> (Bell, Bell) {
        let (a, b) = endpoint::seqpacket_pair().unwrap();
        (Bell::new(a, Role::Reader), Bell::new(b, Role::Writer))
    }

    /// The reader's blocking sleeps on the socket that earn it a pipe, each
    /// ended by the writer's doorbell.
    fn sleep_on_socket_until_due(r: &Bell, w: &Bell) {
        for _ in 0..SOCKET_SLEEPS {
            assert_eq!(r.arm_as(false), ON_SOCKET);
            w.ring(ON_SOCKET);
            assert!(!r.sleep(None, "read").unwrap());
        }
    }

    /// A pair whose reader has moved to its pipe; the writer takes the
    /// offer at its first ring.
    fn piped() -> (Bell, Bell) {
        let (r, w) = pair();
        sleep_on_socket_until_due(&r, &w);
        assert_eq!(r.arm_as(false), ON_PIPE);
        (r, w)
    }

    fn readable(fd: BorrowedFd<'_>) -> bool {
        sysfd::poll(fd, libc::POLLIN, Some(Duration::ZERO)).unwrap()
    }

    #[test]
    fn a_reader_moves_to_its_pipe_after_sleeping_on_the_socket() {
        let (r, w) = piped();
        assert!(w.pipe.get().is_none(), "the offer waits on the socket");
        assert_eq!(
            r.arm_as(true),
            ON_SOCKET,
            "a polled wait is rung on the socket"
        );
        assert_eq!(
            w.arm_as(false),
            ON_SOCKET,
            "the writer sleeps on the socket"
        );
        w.ring(ON_PIPE);
        assert!(
            w.pipe.get().is_some(),
            "the first ring for the pipe took the offer"
        );
        assert!(!readable(r.sock()), "rung on the pipe, not the socket");
        assert!(!r.sleep(None, "read").unwrap(), "woken, not hung up");
        let ringer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.ring(ON_PIPE);
            std::thread::sleep(Duration::from_millis(20));
            drop(w);
        });
        assert!(!r.sleep(None, "read").unwrap());
        assert!(
            r.sleep(None, "read").unwrap(),
            "the writer's exit is end of file"
        );
        ringer.join().unwrap();
    }

    /// A writer that dies before it took the offer closes the offer with
    /// its socket: the reader's pipe has no writer left, end of file.
    #[test]
    fn an_offer_never_taken_is_end_of_file_once_the_writer_is_gone() {
        let (r, w) = piped();
        drop(w);
        assert!(r.sleep(None, "read").unwrap());
    }

    /// The writer takes the offer wherever it reads its socket: in a sleep,
    /// where it is one more stale wake-up, and in a drain.
    #[test]
    fn a_sleeping_or_draining_writer_takes_the_offer() {
        let (r, w) = piped();
        assert!(!w.sleep(None, "write").unwrap());
        assert!(w.pipe.get().is_some());
        let (r2, w2) = piped();
        r2.ring(ON_SOCKET);
        assert!(!w2.drain().unwrap());
        assert!(w2.pipe.get().is_some());
        assert!(!readable(w2.sock()), "the doorbell went too");
        drop((r, r2));
        assert!(w.drain().unwrap(), "then the hang-up");
        assert!(w2.sleep(None, "write").unwrap());
    }

    #[test]
    fn a_reader_that_cannot_offer_stays_on_the_socket() {
        let (r, w) = pair();
        sleep_on_socket_until_due(&r, &w);
        // SAFETY: shutdown of an open socket; the offer's send then fails.
        let rc = unsafe { libc::shutdown(r.sock().as_raw_fd(), libc::SHUT_WR) };
        assert_eq!(rc, 0);
        assert_eq!(r.arm_as(false), ON_SOCKET);
        assert_eq!(r.arm_as(false), ON_SOCKET, "and does not try again");
        assert!(r.pipe.get().is_none());
        drop(w);
    }

    /// Offers a hostile reader may send: each is closed and ignored, the
    /// writer rings the socket instead, and a good offer after them counts.
    #[test]
    fn bad_offers_are_ignored_and_the_writer_rings_the_socket() {
        let (r, w) = pair();
        let (rx, tx) = sysfd::pipe().unwrap();
        let (other_rx, _other_tx) = sysfd::pipe().unwrap();
        let (rx, tx, other_rx) = (rx.as_raw_fd(), tx.as_raw_fd(), other_rx.as_raw_fd());
        let sock = r.sock().as_raw_fd();
        let bad: &[(&[u8], &[RawFd])] = &[
            (OFFER, &[tx]),
            (OFFER, &[tx, rx, rx]),
            (OFFER, &[sock, sock]),
            (OFFER, &[tx, other_rx]),
            (OFFER, &[tx, tx]),
            (b"Q", &[tx, rx]),
        ];
        for (payload, fds) in bad {
            endpoint::send_with_fds(r.sock(), payload, fds).unwrap();
            w.ring(ON_PIPE);
            assert!(w.pipe.get().is_none(), "{payload:?} {fds:?} taken");
            assert!(readable(r.sock()), "rung on the socket instead");
            assert!(!r.drain().unwrap());
        }
        endpoint::send_with_fds(r.sock(), OFFER, &[tx, rx]).unwrap();
        w.ring(ON_PIPE);
        assert!(w.pipe.get().is_some());
        assert!(!readable(r.sock()));
        // An unknown value gets the socket too.
        w.ring(77);
        assert!(readable(r.sock()));
    }

    #[test]
    fn a_timed_sleep_times_out_and_takes_stale_wake_ups() {
        let (r, w) = piped();
        let soon = || Some(Instant::now() + Duration::from_millis(30));
        let e = r.sleep(soon(), "read").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        for _ in 0..3 {
            w.ring(ON_PIPE);
        }
        assert!(
            !r.sleep(soon(), "read").unwrap(),
            "the stale wake-ups, taken at once"
        );
        let e = r.sleep(soon(), "read").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "none left behind");
        drop(w);
        assert!(
            r.sleep(soon(), "read").unwrap(),
            "the hang-up, within the deadline"
        );
    }

    /// The writer shares the read end's file description and may make it
    /// non-blocking: the reader's sleep must still wait, not fail or spin.
    #[test]
    fn the_reader_still_sleeps_if_the_writer_makes_the_pipe_non_blocking() {
        let (r, w) = piped();
        w.ring(ON_PIPE);
        assert!(!r.sleep(None, "read").unwrap());
        let Some(Pipe::RingThrough { _hold: hold, .. }) = w.pipe.get() else {
            unreachable!()
        };
        sysfd::set_nonblocking(hold.as_fd(), true).unwrap();
        let t = Instant::now();
        let ringer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.ring(ON_PIPE);
            w
        });
        assert!(!r.sleep(None, "read").unwrap());
        assert!(t.elapsed() >= Duration::from_millis(40), "it waited");
        drop(ringer.join().unwrap());
    }

    /// A reader that never reads its pipe (hostile, or gone) makes the
    /// writer neither wait nor fail: rings beyond the pipe's capacity are
    /// dropped, and the pipe keeps a reader, so writes never raise SIGPIPE.
    #[test]
    fn ringing_never_waits_and_never_finds_the_pipe_without_readers() {
        let (r, w) = piped();
        for _ in 0..70_000 {
            w.ring(ON_PIPE);
        }
        drop(r);
        let Some(Pipe::RingThrough { tx, _hold: hold }) = w.pipe.get() else {
            unreachable!()
        };
        // Room again: the write goes through instead of failing with EPIPE.
        while read_pipe(hold.as_fd(), true).is_ok_and(|n| n > 0) {}
        // SAFETY: one valid byte.
        let n = unsafe { libc::write(tx.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        assert_eq!(n, 1, "{}", io::Error::last_os_error());
    }
}
