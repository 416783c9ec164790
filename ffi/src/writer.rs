//! The write end: `faasin_writer`.

use crate::error::{guard, invalid};
use crate::own_fd;
use faasin::Writer;
use std::ffi::{c_int, c_void};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The write end of a stream (opaque; `faasin_writer` in C). Created by
/// `faasin_writer_open` or `faasin_output`, freed by `faasin_writer_close`.
/// Not thread-safe: use one from one thread at a time.
pub struct FaasinWriter {
    inner: Writer,
}

/// Runs a write on a plain fd (pipe, socket) with `SIGPIPE` blocked on this
/// thread, and takes back the `SIGPIPE` it raised: a reader that left is the
/// error `EPIPE`, never a signal, on every kind of fd. A ring end needs none
/// of this (its doorbell is sent with `MSG_NOSIGNAL`).
fn without_sigpipe<T>(
    w: &mut Writer,
    op: impl FnOnce(&mut Writer) -> io::Result<T>,
) -> io::Result<T> {
    if w.is_ring() {
        return op(w);
    }
    let mask = SigpipeBlocked::new();
    let result = op(w);
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) {
        mask.take_raised();
    }
    result
}

/// `SIGPIPE` blocked on this thread until dropped (also on unwinding).
struct SigpipeBlocked {
    set: libc::sigset_t,
    old: libc::sigset_t,
    /// A `SIGPIPE` pending before we started belongs to someone else.
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: sigset_t is plain data; every set is initialised by
        // sigemptyset (or filled by the kernel) before it is read, and these
        // calls only touch this thread's signal state.
        unsafe {
            let mut this = SigpipeBlocked {
                set: std::mem::zeroed(),
                old: std::mem::zeroed(),
                was_pending: false,
            };
            libc::sigemptyset(&mut this.set);
            libc::sigaddset(&mut this.set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &this.set, &mut this.old);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            libc::sigpending(&mut pending);
            this.was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            this
        }
    }

    /// Accepts the `SIGPIPE` our write raised, so it is never delivered.
    fn take_raised(&self) {
        if self.was_pending {
            return;
        }
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `set` is initialised; a NULL siginfo is allowed.
        while unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &zero) } < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new` on the same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

fn writer<'a>(w: Option<&'a mut FaasinWriter>, what: &str) -> io::Result<&'a mut Writer> {
    w.map(|w| &mut w.inner)
        .ok_or_else(|| invalid(&format!("{what}: writer is NULL")))
}

/// Opens the write end of a stream on `fd`: a FAASIN endpoint (from
/// `faasin_pipe` or a runner), or any other writable fd (pipe, file,
/// socket), which is then written with plain `write(2)`. On either kind, a
/// write after the reader left fails with `EPIPE` and raises no `SIGPIPE`
/// (on a plain fd, `SIGPIPE` is blocked on the thread during the write and
/// the one it raised is taken back).
///
/// # Arguments
/// - `fd`: an open fd; its ownership passes to the library in every case
///   (on failure it is closed), except `EBADF`, where nothing was taken.
///
/// # Returns
/// A new writer to free with `faasin_writer_close`, or NULL with errno:
/// `EBADF` (fd not open), `EINVAL` (fd is the read end of a stream),
/// `EBADMSG` (a malformed endpoint or ring, or an endpoint already opened).
///
/// # Safety
/// `fd` must not be owned by anything else in the process afterwards.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_open(fd: c_int) -> Option<Box<FaasinWriter>> {
    guard(|| {
        let inner = Writer::from_fd(own_fd(fd)?)?;
        Ok(Some(Box::new(FaasinWriter { inner })))
    })
}

/// The function's output stream, found by the FAASIN conventions: the fd in
/// env `FAASOUT_FD`, else fd 4 if it is a FAASIN endpoint, or the stream
/// handed over by `FAASIN_SOCKET` + `FAASIN_TOKEN` in containers.
///
/// # Returns
/// A new writer to free with `faasin_writer_close`, or NULL with errno:
/// `ENOENT` (no output stream; `faasin_last_error` says how to run the
/// function), `EEXIST` (already taken in this process), `EINVAL` (bad
/// `FAASOUT_FD`), or what `faasin_writer_open` fails with.
///
/// # Safety
/// None beyond the usual: the stream fd becomes the library's.
#[no_mangle]
pub extern "C" fn faasin_output() -> Option<Box<FaasinWriter>> {
    guard(|| {
        Ok(Some(Box::new(FaasinWriter {
            inner: faasin::output()?,
        })))
    })
}

/// Writes `len` bytes, like `write(2)` on a pipe: blocks for space as
/// needed; every byte is visible to the reader when it returns.
///
/// # Arguments
/// - `w`: the writer.
/// - `buf`: the bytes (may be NULL only if `len` is 0).
/// - `len`: how many.
///
/// # Returns
/// The number of bytes written: `len` in blocking mode, possibly fewer in
/// non-blocking mode, or when the reader left or the timeout passed midway
/// (the next call then fails); 0 when `len` is 0; or -1 with errno: `EPIPE` (the reader closed
/// or died; never a `SIGPIPE`), `EAGAIN` (non-blocking and
/// full), `ETIMEDOUT`, `EINTR`, `EBADMSG`, `EINVAL`.
///
/// # Safety
/// `w` is NULL or a live writer; `buf` is valid for `len` readable bytes.
/// Cancels a pending `faasin_write_reserve`.
#[no_mangle]
pub unsafe extern "C" fn faasin_write(
    w: Option<&mut FaasinWriter>,
    buf: *const c_void,
    len: libc::size_t,
) -> libc::ssize_t {
    guard(|| {
        let w = writer(w, "faasin_write")?;
        if len == 0 {
            return Ok(0);
        }
        if buf.is_null() {
            return Err(invalid("faasin_write: buf is NULL"));
        }
        let len = len.min(isize::MAX as usize);
        // SAFETY: the caller promises `len` readable bytes at `buf`.
        let buf = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
        Ok(without_sigpipe(w, |w| w.write(buf))? as libc::ssize_t)
    })
}

/// Zero-copy write: reserves at least `min` writable bytes (up to all free
/// space) as one contiguous span in the ring; fill some, then publish them
/// with `faasin_write_commit`. A reservation never committed publishes
/// nothing.
///
/// # Arguments
/// - `w`: the writer.
/// - `min`: bytes needed, at most the ring capacity; waits for that much
///   space (0 never waits, and may return 0).
/// - `data`: receives the start of the span.
///
/// # Returns
/// The usable length (>= `min`), or -1 with errno: `EINVAL` (NULL argument,
/// `min` beyond the capacity), `EPIPE`, `EAGAIN` (non-blocking and not
/// enough space), `ETIMEDOUT`, `EINTR`, `EBADMSG`.
///
/// # Safety
/// `w` is NULL or a live writer; `data` is NULL or writable. The span is
/// valid until the next commit, write, reserve or close on `w`.
#[no_mangle]
pub unsafe extern "C" fn faasin_write_reserve(
    w: Option<&mut FaasinWriter>,
    min: libc::size_t,
    data: Option<&mut *mut c_void>,
) -> libc::ssize_t {
    guard(|| {
        let w = writer(w, "faasin_write_reserve")?;
        let data = data.ok_or_else(|| invalid("faasin_write_reserve: data is NULL"))?;
        let span = w.reserve_slice(min)?;
        *data = span.as_mut_ptr().cast();
        Ok(span.len() as libc::ssize_t)
    })
}

/// Publishes the first `n` bytes of the last reservation to the reader and
/// ends the reservation.
///
/// # Arguments
/// - `w`: the writer.
/// - `n`: bytes filled, at most the length `faasin_write_reserve` returned.
///
/// # Returns
/// 0, or -1 with errno: `EINVAL` (NULL writer, `n` beyond the reservation,
/// or no reservation), `EPIPE` (the reader left; nothing published), or, on
/// a plain fd, where the bytes are written now, `ETIMEDOUT` (the text of
/// `faasin_last_error` says how many went) and the system's write errors.
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_write_commit(
    w: Option<&mut FaasinWriter>,
    n: libc::size_t,
) -> c_int {
    guard(|| {
        without_sigpipe(writer(w, "faasin_write_commit")?, |w| w.commit(n))?;
        Ok(0)
    })
}

/// Checks that the reader is still there. Every write is visible to the
/// reader when it returns, so there is nothing to push.
///
/// # Arguments
/// - `w`: the writer.
///
/// # Returns
/// 0, or -1 with errno `EPIPE` (the reader closed or died) or `EINVAL`.
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_flush(w: Option<&mut FaasinWriter>) -> c_int {
    guard(|| {
        writer(w, "faasin_writer_flush")?.flush()?;
        Ok(0)
    })
}

/// The fd to poll for readiness: `POLLIN`, like the read end (space is
/// announced by a doorbell that makes it readable; never poll `POLLOUT` on
/// a ring end). In non-blocking mode, a write or reserve that fails with
/// `EAGAIN` arms it; try first, poll only after `EAGAIN`. For a plain fd
/// (`faasin_writer_is_ring` is 0) it is that fd: poll it for `POLLOUT`.
/// Do not read from or close the fd.
///
/// # Arguments
/// - `w`: the writer.
///
/// # Returns
/// The fd, or -1 with errno `EINVAL` (NULL writer).
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_fd(w: Option<&FaasinWriter>) -> c_int {
    guard(|| {
        let w = w.ok_or_else(|| invalid("faasin_writer_fd: writer is NULL"))?;
        Ok(w.inner.as_raw_fd())
    })
}

/// Turns non-blocking mode on or off: a write that would wait writes what
/// fits, or fails with `EAGAIN` if nothing fits (see `faasin_writer_fd`).
///
/// # Arguments
/// - `w`: the writer.
/// - `on`: non-zero for non-blocking.
///
/// # Returns
/// 0, or -1 with errno (`EINVAL` for a NULL writer).
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_set_nonblocking(
    w: Option<&mut FaasinWriter>,
    on: c_int,
) -> c_int {
    guard(|| {
        writer(w, "faasin_writer_set_nonblocking")?.set_nonblocking(on != 0)?;
        Ok(0)
    })
}

/// Bounds how long a blocking write, reserve or commit waits for space
/// (like `SO_SNDTIMEO`), on a ring and on a plain fd (a pipe or socket; a
/// regular file never waits). On a plain fd, a commit is where the bytes
/// are written, so it is the call that can time out there.
///
/// # Arguments
/// - `w`: the writer.
/// - `timeout_ms`: milliseconds; a negative value waits forever (default).
///
/// # Returns
/// 0, or -1 with errno `EINVAL` (NULL writer). A wait that times out fails
/// with `ETIMEDOUT` (or returns the bytes written so far).
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_set_timeout(
    w: Option<&mut FaasinWriter>,
    timeout_ms: i64,
) -> c_int {
    guard(|| {
        let t = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        writer(w, "faasin_writer_set_timeout")?.set_timeout(t);
        Ok(0)
    })
}

/// Sets how long a waiting write spins before it sleeps in the kernel
/// (default 50 us or env `FAASIN_SPIN_US`); 0 sleeps at once.
///
/// # Arguments
/// - `w`: the writer.
/// - `spin_us`: microseconds.
///
/// # Returns
/// 0, or -1 with errno `EINVAL` (NULL writer).
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_set_spin(
    w: Option<&mut FaasinWriter>,
    spin_us: u32,
) -> c_int {
    guard(|| {
        writer(w, "faasin_writer_set_spin")?.set_spin(Duration::from_micros(spin_us.into()));
        Ok(0)
    })
}

/// Tells whether the writer uses a shared-memory ring (1) or falls back to
/// plain `write(2)` on an ordinary fd (0).
///
/// # Arguments
/// - `w`: the writer.
///
/// # Returns
/// 1 or 0, or -1 with errno `EINVAL` (NULL writer).
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_is_ring(w: Option<&FaasinWriter>) -> c_int {
    guard(|| {
        let w = w.ok_or_else(|| invalid("faasin_writer_is_ring: writer is NULL"))?;
        Ok(w.inner.is_ring() as c_int)
    })
}

/// Closes the write end and frees the writer: the reader gets end of stream
/// after every committed byte, and a reader blocked for data wakes at once.
/// An uncommitted reservation is dropped.
///
/// # Arguments
/// - `w`: the writer, or NULL (a no-op).
///
/// # Returns
/// 0, or -1 with errno.
///
/// An end inherited across `fork` is shared: closing it in one process
/// closes it for both (open ends after forking).
///
/// # Safety
/// `w` is NULL or a live writer, not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn faasin_writer_close(w: Option<Box<FaasinWriter>>) -> c_int {
    guard(|| {
        if let Some(w) = w {
            w.inner.close()?;
        }
        Ok(0)
    })
}
