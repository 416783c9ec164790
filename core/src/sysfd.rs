//! Plain fd operations for the fallback path (pipes, files, TCP sockets).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// `read(2)` into `len` bytes at `ptr`.
pub(crate) fn read(fd: BorrowedFd<'_>, ptr: *mut u8, len: usize) -> io::Result<usize> {
    // SAFETY: callers pass a pointer valid for `len` writable bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), ptr.cast(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` of `buf`. `EPIPE` comes back as `BrokenPipe`: Rust ignores
/// SIGPIPE by default, and we never raise it ourselves.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
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
    // SAFETY: no arguments; sched_getcpu only reads the calling thread's state.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).map_or(0, |c| c.wrapping_add(1))
}
