//! Plain fd operations for the fallback path (pipes, files, TCP sockets).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// `read(2)` into `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` is valid for `len` writable bytes.
unsafe fn read(fd: BorrowedFd<'_>, ptr: *mut u8, len: usize) -> io::Result<usize> {
    // SAFETY: the caller's contract.
    let n = unsafe { libc::read(fd.as_raw_fd(), ptr.cast(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` of `buf`. `EPIPE` comes back as `BrokenPipe`: Rust ignores
/// SIGPIPE by default, and we never raise it ourselves.
fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() readable bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a borrowed, open fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    if new != flags && unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new pipe: (read end, write end), both close-on-exec.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded; both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Best-effort FIONREAD; 0 where the fd type does not support it.
pub(crate) fn bytes_readable(fd: BorrowedFd<'_>) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the given pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 || n < 0 {
        0
    } else {
        n as usize
    }
}

/// True when `fd` is an open descriptor of this process.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number is harmless; EBADF tells it is closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// 1 + the CPU this thread runs on now, or 0 if the kernel cannot tell.
pub(crate) fn current_cpu() -> u32 {
    if cfg!(miri) {
        return 0; // Miri does not emulate sched_getcpu; 0 is "unknown".
    }
    // SAFETY: no arguments; sched_getcpu only reads the calling thread's state.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).map_or(0, |c| c.wrapping_add(1))
}

/// The error a blocking call gives when its timeout passes, on a ring end
/// and on a plain fd alike.
pub(crate) fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("FAASIN {what} timed out"))
}

/// What is left until `deadline`, or `TimedOut` once it has passed.
pub(crate) fn time_left(deadline: Instant, what: &str) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(timed_out(what)),
    }
}

/// Waits at most `timeout` (`None`: without limit) until `fd` polls for
/// `events`; true if it does, or is in an error or hang-up state (which the
/// next read or write reports). `EINTR` is returned as `Interrupted`, so
/// that callers (Python's Ctrl-C) can act on it.
pub(crate) fn poll(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout: Option<Duration>,
) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos().into(),
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: pfd is one valid pollfd; tsp is NULL or points to `ts`,
    // which outlives the call; a NULL signal mask leaves the mask alone.
    let n = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}

/// A fallback fd (pipe, socket, file) and what a timed read or write on it
/// needs to know.
pub(crate) struct PlainFd {
    fd: OwnedFd,
    /// A read or write on it may wait for a peer: false for a regular file
    /// or a block device, which poll ready at once and never wait for one.
    waits: bool,
    /// `pwritev2(RWF_NOWAIT)` works on it; cleared at its first refusal
    /// (kernels before pipes supported it).
    nowait_writes: bool,
}

impl PlainFd {
    pub(crate) fn new(fd: OwnedFd) -> PlainFd {
        // SAFETY: all-zero is a valid `stat`; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer; fd is open.
        let waits = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0
            || !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFBLK);
        PlainFd {
            fd,
            waits,
            nowait_writes: true,
        }
    }

    /// Waits until the fd polls for `events`, or fails with `TimedOut` once
    /// `deadline` passed. Without a deadline, or on an fd that never waits,
    /// it returns at once.
    fn ready(
        &self,
        events: libc::c_short,
        deadline: Option<Instant>,
        what: &str,
    ) -> io::Result<()> {
        let Some(deadline) = deadline.filter(|_| self.waits) else {
            return Ok(());
        };
        while !poll(self.fd.as_fd(), events, Some(time_left(deadline, what)?))? {}
        Ok(())
    }

    /// `read(2)` into `len` bytes at `ptr`, waiting for data no later than
    /// `deadline`.
    ///
    /// # Safety
    /// `ptr` is valid for `len` writable bytes.
    pub(crate) unsafe fn read(
        &self,
        ptr: *mut u8,
        len: usize,
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.ready(libc::POLLIN, deadline, "read")?;
        // After POLLIN, a read takes what is there without blocking.
        // SAFETY: the caller's contract.
        unsafe { read(self.fd.as_fd(), ptr, len) }
    }

    /// `write(2)` of `buf`, waiting for space no later than `deadline`.
    pub(crate) fn write(&mut self, buf: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
        if deadline.is_none() || !self.waits {
            return write(self.fd.as_fd(), buf);
        }
        loop {
            self.ready(libc::POLLOUT, deadline, "write")?;
            match self.write_nowait(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
    }

    /// Writes all of `buf` (a commit), no later than `deadline`.
    pub(crate) fn write_all(&mut self, buf: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.write(&buf[done..], deadline) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "FAASIN write timed out after {done} of {} committed bytes",
                            buf.len()
                        ),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A write that takes what fits and never blocks, on an fd that polled
    /// writable: `pwritev2(RWF_NOWAIT)`, or where the kernel refuses that,
    /// a `write(2)` of at most `PIPE_BUF` bytes (a pipe that polls writable
    /// has a free page, and a socket room for that much).
    fn write_nowait(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.nowait_writes {
            let iov = libc::iovec {
                iov_base: buf.as_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            // SAFETY: iov describes `buf`, valid for buf.len() readable
            // bytes; offset -1 writes at the current position, as write(2).
            let n = unsafe { libc::pwritev2(self.fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) {
                return Err(e);
            }
            self.nowait_writes = false;
        }
        write(self.fd.as_fd(), &buf[..buf.len().min(libc::PIPE_BUF)])
    }
}

impl AsFd for PlainFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    /// Timed writes into a pipe fill it to the last byte and then time out,
    /// with `RWF_NOWAIT` and with the `PIPE_BUF` writes of kernels without.
    #[test]
    fn timed_writes_fill_a_pipe_and_never_block() {
        for nowait_writes in [true, false] {
            let mut fds = [0; 2];
            // SAFETY: fds has room for two ints.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: fresh fds from pipe2, owned here.
            let (_r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // SAFETY: F_GETPIPE_SZ on an open pipe fd.
            let size = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ) } as usize;
            let mut w = PlainFd::new(w);
            assert!(w.waits);
            w.nowait_writes = nowait_writes;
            let big = vec![1u8; 3 * size];
            let mut total = 0;
            let e = loop {
                let deadline = Instant::now() + Duration::from_millis(20);
                match w.write(&big, Some(deadline)) {
                    Ok(n) => total += n,
                    Err(e) => break e,
                }
            };
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
            assert_eq!(total, size, "RWF_NOWAIT: {nowait_writes}");
        }
    }
}
