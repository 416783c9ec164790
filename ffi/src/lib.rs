//! The C ABI of FAASIN: `libfaasin.so` / `libfaasin.a`, declared by
//! `include/faasin.h` (generated from this crate by cbindgen).
//!
//! Conventions, as for the system calls it mirrors:
//! - a failure returns -1 (or NULL) and sets `errno`; [`faasin_strerror`]
//!   and [`faasin_last_error`] give text;
//! - every function runs inside one guard (`error::guard`), so a Rust panic becomes the
//!   error `ENOTRECOVERABLE`, never an unwind into C;
//! - a NULL argument is `EINVAL`, never a crash;
//! - ownership shows in the signatures: an `Option<Box<T>>` result is a new
//!   object the caller must close, an `Option<Box<T>>` argument is taken.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod error;
mod reader;
mod writer;

pub use reader::*;
pub use writer::*;

use error::{guard, invalid};
use std::ffi::{c_char, c_int};
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// The ring capacity used when `faasin_pipe` is given 0: 1 MiB.
pub const FAASIN_DEFAULT_CAPACITY: usize = 1 << 20;

const _: () = assert!(FAASIN_DEFAULT_CAPACITY == faasin::DEFAULT_CAPACITY);

/// Creates a stream, like `pipe(2)`: `fds[0]` is the read end, `fds[1]` the
/// write end. Both are FAASIN endpoints (one fd each) and close-on-exec; hand
/// one to a child (after `fork`, or `dup2` onto fd 3 / 4 before `exec`) and
/// open it there with `faasin_reader_open` / `faasin_writer_open`.
///
/// Fork before opening, not after: an opened end lives in the ring that
/// both processes share, so closing it in either process closes it for
/// both. Before opening, the fds are plain fds: `close(2)` the unused one.
///
/// # Arguments
/// - `capacity`: ring size in bytes, a power of two from 4096 up; 0 selects
///   `FAASIN_DEFAULT_CAPACITY`.
/// - `fds`: an array of two ints that receives the fds.
///
/// # Returns
/// 0, or -1 with errno: `EINVAL` (NULL `fds`, bad capacity), or the system's
/// error (`EMFILE`, `ENOMEM`, ...). `fds` is untouched on failure.
///
/// # Safety
/// `fds` is NULL or points to two writable ints.
#[no_mangle]
pub unsafe extern "C" fn faasin_pipe(capacity: libc::size_t, fds: *mut c_int) -> c_int {
    guard(|| {
        if fds.is_null() {
            return Err(invalid("faasin_pipe: fds is NULL"));
        }
        let capacity = if capacity == 0 {
            FAASIN_DEFAULT_CAPACITY
        } else {
            capacity
        };
        let (r, w) = faasin::pipe_fds(capacity)?;
        // SAFETY: the caller promises two writable ints at `fds`.
        unsafe {
            *fds = r.into_raw_fd();
            *fds.add(1) = w.into_raw_fd();
        }
        Ok(0)
    })
}

/// Checks that `fd` is open, so that it can be owned (and later closed)
/// without closing somebody else's descriptor by mistake.
fn own_fd(fd: c_int) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor flags of any fd number.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the fd is open, and the caller hands its ownership over.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Text for an errno value set by this library (or any errno), like
/// `strerror(3)` but thread-safe.
///
/// # Arguments
/// - `err`: an errno value.
///
/// # Returns
/// A NUL-terminated string, never NULL. FAASIN's own codes (`EPIPE`,
/// `EAGAIN`, `EBADMSG`, `EINVAL`, `ETIMEDOUT`, `ENOENT`, `EEXIST`,
/// `ENOTRECOVERABLE`) get static texts that say what they mean here; other
/// codes get the system's text, valid until the next `faasin_strerror` call
/// on the same thread.
///
/// # Safety
/// None: any value is accepted. Do not free the result.
#[no_mangle]
pub extern "C" fn faasin_strerror(err: c_int) -> *const c_char {
    guard(|| Ok(error::strerror(err)))
}

/// The detailed text of the last error a faasin function set on this
/// thread (e.g. "release of 9 bytes, but only 4 are borrowed").
///
/// # Returns
/// A NUL-terminated string, empty if no call failed yet on this thread;
/// valid until the next failing faasin call on the same thread.
///
/// # Safety
/// None. Do not free the result.
#[no_mangle]
pub extern "C" fn faasin_last_error() -> *const c_char {
    guard(|| Ok(error::last_error()))
}
