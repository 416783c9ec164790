//! The read end: `faasin_reader`.

use crate::error::{guard, invalid};
use crate::own_fd;
use faasin::Reader;
use std::ffi::{c_int, c_void};
use std::io::{self, BufRead, Read};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The read end of a stream (opaque; `faasin_reader` in C). Created by
/// `faasin_reader_open` or `faasin_input`, freed by `faasin_reader_close`.
/// Not thread-safe: use one from one thread at a time.
pub struct FaasinReader {
    inner: Reader,
}

fn reader<'a>(r: Option<&'a mut FaasinReader>, what: &str) -> io::Result<&'a mut Reader> {
    r.map(|r| &mut r.inner)
        .ok_or_else(|| invalid(&format!("{what}: reader is NULL")))
}

/// Opens the read end of a stream on `fd`: a FAASIN endpoint (from
/// `faasin_pipe` or a runner), or any other readable fd (pipe, file, socket),
/// which is then read with plain `read(2)`.
///
/// # Arguments
/// - `fd`: an open fd; its ownership passes to the library in every case
///   (on failure it is closed), except `EBADF`, where nothing was taken.
///
/// # Returns
/// A new reader to free with `faasin_reader_close`, or NULL with errno:
/// `EBADF` (fd not open), `EINVAL` (fd is the write end of a stream),
/// `EBADMSG` (a malformed endpoint or ring, or an endpoint already opened).
///
/// # Safety
/// `fd` must not be owned by anything else in the process afterwards.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_open(fd: c_int) -> Option<Box<FaasinReader>> {
    guard(|| {
        let inner = Reader::from_fd(own_fd(fd)?)?;
        Ok(Some(Box::new(FaasinReader { inner })))
    })
}

/// The function's input stream, found by the FAASIN conventions: the fd in
/// env `FAASIN_FD`, else fd 3 if it is a FAASIN endpoint, or the stream
/// handed over by `FAASIN_SOCKET` + `FAASIN_TOKEN` in containers.
///
/// # Returns
/// A new reader to free with `faasin_reader_close`, or NULL with errno:
/// `ENOENT` (no input stream; `faasin_last_error` says how to run the
/// function), `EEXIST` (already taken in this process), `EINVAL` (bad
/// `FAASIN_FD`), or what `faasin_reader_open` fails with.
///
/// # Safety
/// None beyond the usual: the stream fd becomes the library's.
#[no_mangle]
pub extern "C" fn faasin_input() -> Option<Box<FaasinReader>> {
    guard(|| {
        Ok(Some(Box::new(FaasinReader {
            inner: faasin::input()?,
        })))
    })
}

/// Reads up to `len` bytes, like `read(2)`: returns as soon as any byte is
/// there, blocks while the stream is empty and the writer open.
///
/// # Arguments
/// - `r`: the reader.
/// - `buf`: where to copy the bytes (may be NULL only if `len` is 0).
/// - `len`: size of `buf`.
///
/// # Returns
/// The number of bytes read (1..=len), 0 at end of stream (the writer
/// closed or died, and every byte it wrote was read) or when `len` is 0, or
/// -1 with errno: `EAGAIN` (non-blocking and empty), `ETIMEDOUT`, `EINTR`
/// (a signal arrived while waiting), `EBADMSG` (corrupted ring), `EINVAL`.
///
/// # Safety
/// `r` is NULL or a live reader; `buf` is valid for `len` writable bytes.
/// Invalidates the pointer of a previous `faasin_read_borrow`.
#[no_mangle]
pub unsafe extern "C" fn faasin_read(
    r: Option<&mut FaasinReader>,
    buf: *mut c_void,
    len: libc::size_t,
) -> libc::ssize_t {
    guard(|| {
        let r = reader(r, "faasin_read")?;
        if len == 0 {
            return Ok(0);
        }
        if buf.is_null() {
            return Err(invalid("faasin_read: buf is NULL"));
        }
        let len = len.min(isize::MAX as usize);
        // SAFETY: the caller promises `len` writable bytes at `buf`.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        Ok(r.read(buf)? as libc::ssize_t)
    })
}

/// Zero-copy read: borrows every readable byte as one contiguous span that
/// points into the ring. Give bytes back with `faasin_read_release`.
///
/// # Arguments
/// - `r`: the reader.
/// - `data`: receives the start of the span (NULL at end of stream).
///
/// # Returns
/// The length of the span (>= 1; blocks until a byte is there like
/// `faasin_read`), 0 at end of stream, or -1 with errno as `faasin_read`.
///
/// # Safety
/// `r` is NULL or a live reader; `data` is NULL or writable. The span stays
/// valid and unchanged until the next release, read, borrow or close on `r`;
/// do not write to it.
#[no_mangle]
pub unsafe extern "C" fn faasin_read_borrow(
    r: Option<&mut FaasinReader>,
    data: Option<&mut *const c_void>,
) -> libc::ssize_t {
    guard(|| {
        let r = reader(r, "faasin_read_borrow")?;
        let data = data.ok_or_else(|| invalid("faasin_read_borrow: data is NULL"))?;
        let span = r.fill_buf()?;
        *data = if span.is_empty() {
            std::ptr::null()
        } else {
            span.as_ptr().cast()
        };
        Ok(span.len() as libc::ssize_t)
    })
}

/// Gives the first `n` bytes of the last borrowed span back to the writer.
///
/// # Arguments
/// - `r`: the reader.
/// - `n`: bytes consumed, at most the length the last borrow returned
///   minus what was released since.
///
/// # Returns
/// 0, or -1 with errno `EINVAL` (NULL reader, or `n` beyond the borrow).
///
/// # Safety
/// `r` is NULL or a live reader. Released bytes may be overwritten by the
/// writer at once.
#[no_mangle]
pub unsafe extern "C" fn faasin_read_release(
    r: Option<&mut FaasinReader>,
    n: libc::size_t,
) -> c_int {
    guard(|| {
        reader(r, "faasin_read_release")?.release(n)?;
        Ok(0)
    })
}

/// The fd to poll for readiness: `POLLIN` (never `POLLOUT`). In
/// non-blocking mode, a call that fails with `EAGAIN` arms it: the fd then
/// becomes readable when data or end of stream arrives. Always try the
/// read first and poll only after `EAGAIN`; a wake-up may be stale, and the
/// retry then fails with `EAGAIN` again. Do not read from or close the fd.
///
/// # Arguments
/// - `r`: the reader.
///
/// # Returns
/// The fd, or -1 with errno `EINVAL` (NULL reader).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_fd(r: Option<&FaasinReader>) -> c_int {
    guard(|| {
        let r = r.ok_or_else(|| invalid("faasin_reader_fd: reader is NULL"))?;
        Ok(r.inner.as_raw_fd())
    })
}

/// Turns non-blocking mode on or off: a read that would wait fails with
/// `EAGAIN` instead (see `faasin_reader_fd` for polling).
///
/// # Arguments
/// - `r`: the reader.
/// - `on`: non-zero for non-blocking.
///
/// # Returns
/// 0, or -1 with errno (`EINVAL` for a NULL reader).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_set_nonblocking(
    r: Option<&mut FaasinReader>,
    on: c_int,
) -> c_int {
    guard(|| {
        reader(r, "faasin_reader_set_nonblocking")?.set_nonblocking(on != 0)?;
        Ok(0)
    })
}

/// Bounds how long a blocking read waits (like `SO_RCVTIMEO`), on a ring
/// and on a plain fd (a pipe or socket; a regular file never waits).
///
/// # Arguments
/// - `r`: the reader.
/// - `timeout_ms`: milliseconds; a negative value waits forever (default).
///
/// # Returns
/// 0, or -1 with errno `EINVAL` (NULL reader). A read that times out
/// fails with `ETIMEDOUT`.
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_set_timeout(
    r: Option<&mut FaasinReader>,
    timeout_ms: i64,
) -> c_int {
    guard(|| {
        let t = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        reader(r, "faasin_reader_set_timeout")?.set_timeout(t);
        Ok(0)
    })
}

/// Sets how long a waiting read spins before it sleeps in the kernel
/// (default 50 us or env `FAASIN_SPIN_US`); 0 sleeps at once.
///
/// # Arguments
/// - `r`: the reader.
/// - `spin_us`: microseconds.
///
/// # Returns
/// 0, or -1 with errno `EINVAL` (NULL reader).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_set_spin(
    r: Option<&mut FaasinReader>,
    spin_us: u32,
) -> c_int {
    guard(|| {
        reader(r, "faasin_reader_set_spin")?.set_spin(Duration::from_micros(spin_us.into()));
        Ok(0)
    })
}

/// Bytes that can be read now without waiting.
///
/// # Arguments
/// - `r`: the reader.
///
/// # Returns
/// The count, or -1 with errno (`EINVAL` for a NULL reader, `EBADMSG`).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_available(r: Option<&mut FaasinReader>) -> libc::ssize_t {
    guard(|| Ok(reader(r, "faasin_reader_available")?.available()? as libc::ssize_t))
}

/// Tells whether the reader uses a shared-memory ring (1) or falls back to
/// plain `read(2)` on an ordinary fd (0).
///
/// # Arguments
/// - `r`: the reader.
///
/// # Returns
/// 1 or 0, or -1 with errno `EINVAL` (NULL reader).
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_is_ring(r: Option<&FaasinReader>) -> c_int {
    guard(|| {
        let r = r.ok_or_else(|| invalid("faasin_reader_is_ring: reader is NULL"))?;
        Ok(r.inner.is_ring() as c_int)
    })
}

/// Closes the read end and frees the reader: the writer's next write fails
/// with `EPIPE`, and a writer blocked for space wakes at once. Any borrowed
/// span becomes invalid.
///
/// # Arguments
/// - `r`: the reader, or NULL (a no-op).
///
/// # Returns
/// 0, or -1 with errno.
///
/// An end inherited across `fork` is shared: closing it in one process
/// closes it for both (open ends after forking).
///
/// # Safety
/// `r` is NULL or a live reader, not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn faasin_reader_close(r: Option<Box<FaasinReader>>) -> c_int {
    guard(|| {
        if let Some(r) = r {
            r.inner.close()?;
        }
        Ok(0)
    })
}
