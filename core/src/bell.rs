//! The doorbell of a ring end: its endpoint socket, and beside it a pipe
//! on which the reader sleeps.
//!
//! A one-byte message on the socket wakes a sleeper as a unix socket does:
//! the kernel allocates, queues and frees a buffer per message, which costs
//! a sleeping reader several microseconds per wake-up more than a pipe.
//! So a blocked reader sleeps in `read` on a pipe of its own, and the
//! writer wakes it with a one-byte `write`, what a plain pipe costs. Only
//! the writer holds the pipe's write end, so the reader's read also sees
//! the writer exit or crash, as end of file: the pipe is a lifeline too.
//!
//! The socket stays the end's one pollable fd. A reader waiting through
//! its caller's poll (non-blocking mode: epoll, tokio, asyncio, libuv)
//! arms with [`ON_SOCKET`] instead of [`ON_PIPE`], and the writer rings the
//! socket for it. The writer, which sleeps only on a full ring, where
//! wake-ups are rare, sleeps on the socket either way.

use crate::endpoint::{self, Role};
use crate::sysfd;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

/// A waiting flag armed with this asks for a wake-up on the socket.
pub(crate) const ON_SOCKET: u32 = 1;
/// A waiting flag armed with this asks for a wake-up on the reader's pipe.
pub(crate) const ON_PIPE: u32 = 2;

/// An end's doorbell (see the module documentation).
pub(crate) struct Bell {
    sock: OwnedFd,
    pipe: Pipe,
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
    /// The doorbell of the `role` end on `sock`, with the pipe fds its hello
    /// carried: the read end for the reader; the write end and a read end
    /// for the writer. They are checked: a pipe, and for the writer a read
    /// end of the pipe it writes to, so that its writes never raise SIGPIPE.
    pub(crate) fn new(sock: OwnedFd, role: Role, fds: Vec<OwnedFd>) -> io::Result<Bell> {
        let bad =
            |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("FAASIN hello: {m}"));
        let mut fds = fds.into_iter();
        let pipe = match (role, fds.next(), fds.next(), fds.next()) {
            (Role::Reader, Some(rx), None, None) => {
                fifo_id(rx.as_fd()).ok_or_else(|| bad("the wake-up fd is not a pipe"))?;
                Pipe::SleepOn(rx)
            }
            (Role::Writer, Some(tx), Some(hold), None) => {
                let (a, b) = (fifo_id(tx.as_fd()), fifo_id(hold.as_fd()));
                if a.is_none() || a != b || !is_read_end(hold.as_fd()) {
                    return Err(bad("the wake-up fds are not two ends of one pipe"));
                }
                // The ring never waits for room in the pipe (see `ring_pipe`);
                // this covers kernels that ignore RWF_NOWAIT on pipes.
                sysfd::set_nonblocking(tx.as_fd(), true)?;
                Pipe::RingThrough { tx, _hold: hold }
            }
            _ => return Err(bad("wrong number of wake-up fds")),
        };
        Ok(Bell { sock, pipe })
    }

    /// The endpoint socket: the fd to poll.
    pub(crate) fn sock(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
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
        match self.pipe {
            Pipe::SleepOn(_) if !polled => ON_PIPE,
            _ => ON_SOCKET,
        }
    }

    fn ring(&self, armed: u32) {
        match &self.pipe {
            Pipe::RingThrough { tx, .. } if armed == ON_PIPE => ring_pipe(tx.as_fd()),
            _ => endpoint::ring(self.sock()),
        }
    }

    fn drain(&self) -> io::Result<bool> {
        endpoint::drain(self.sock())
    }

    fn sleep(&self, deadline: Option<Instant>, what: &str) -> io::Result<bool> {
        match &self.pipe {
            Pipe::SleepOn(rx) => sleep_on_pipe(rx.as_fd(), deadline, what),
            Pipe::RingThrough { .. } => endpoint::sleep(self.sock(), deadline, what),
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
    use std::time::Duration;

    /// A reader's and a writer's doorbell, connected as a new stream's are.
    fn pair() -> (Bell, Bell) {
        let (a, b) = endpoint::seqpacket_pair().unwrap();
        let (rx, tx) = sysfd::pipe().unwrap();
        let reader = Bell::new(a, Role::Reader, vec![rx.try_clone().unwrap()]).unwrap();
        let writer = Bell::new(b, Role::Writer, vec![tx, rx]).unwrap();
        (reader, writer)
    }

    #[test]
    fn the_reader_sleeps_on_its_pipe_until_rung_or_the_writer_is_gone() {
        let (r, w) = pair();
        assert_eq!(r.arm_as(false), ON_PIPE);
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

    #[test]
    fn a_polled_reader_is_rung_on_the_socket() {
        let (r, w) = pair();
        w.ring(ON_SOCKET);
        assert!(sysfd::poll(r.sock(), libc::POLLIN, Some(Duration::ZERO)).unwrap());
        assert!(!r.drain().unwrap());
        assert!(!sysfd::poll(r.sock(), libc::POLLIN, Some(Duration::ZERO)).unwrap());
        // An unknown value (a hostile reader's) gets the socket too.
        w.ring(77);
        assert!(sysfd::poll(r.sock(), libc::POLLIN, Some(Duration::ZERO)).unwrap());
    }

    #[test]
    fn a_timed_sleep_times_out_and_takes_stale_wake_ups() {
        let (r, w) = pair();
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
        let (r, w) = pair();
        let Pipe::RingThrough { _hold: hold, .. } = &w.pipe else {
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
        let (r, w) = pair();
        for _ in 0..70_000 {
            w.ring(ON_PIPE);
        }
        drop(r);
        let Pipe::RingThrough { tx, _hold: hold } = &w.pipe else {
            unreachable!()
        };
        // Room again: the write goes through instead of failing with EPIPE.
        while read_pipe(hold.as_fd(), true).is_ok_and(|n| n > 0) {}
        // SAFETY: one valid byte.
        let n = unsafe { libc::write(tx.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        assert_eq!(n, 1, "{}", io::Error::last_os_error());
    }
}
