//! JNI glue for the `io.faasin` Java classes: every `native` method of
//! `io.faasin.Native` is implemented here, over the `faasin` core crate.
//!
//! Conventions shared by all entry points:
//! - each body runs inside [`guard::guard`], which turns Rust errors and
//!   panics into Java exceptions;
//! - objects cross the boundary as `long` handles ([`handle`]), freed only by
//!   the Java side's `Cleaner`;
//! - a blocking call waits at most [`WAIT_SLICE`] and then returns
//!   [`RETRY`], so the Java caller can check `Thread.interrupted()` (the JVM
//!   does not signal a thread it interrupts) and call again. No JVM lock and
//!   no JNI critical region is held while waiting.
#![deny(unsafe_op_in_unsafe_fn)]

mod array;
mod copy;
mod guard;
mod handle;
mod invocations;
mod pipe;
mod reader;
mod writer;

use guard::guard;
use jni::objects::JClass;
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Longest single wait inside a native call.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Largest span copied before it is released or committed: the peer can
/// work on one piece while the next is copied, instead of waiting for the
/// whole of a large read or write (a 1 MiB write into a 1 MiB ring would
/// otherwise run the two sides in lockstep).
pub(crate) const PIECE: usize = 128 * 1024;

/// Returned by a blocking call whose wait slice ran out: "call me again".
pub(crate) const RETRY: jint = -2;

/// Core's timeout, or a signal during the wait: the Java side retries.
pub(crate) fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Waits up to `timeout` until `fd` polls for `events`; false on timeout or
/// signal. Used for the plain-fd fallback, whose reads and writes core does
/// not time out.
pub(crate) fn poll_fd(fd: BorrowedFd<'_>, events: libc::c_short, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let n = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    n > 0
}

/// Duplicates an fd the Java caller owns (close-on-exec), so that opening
/// a stream end from it leaves the caller's fd to the caller.
pub(crate) fn dup_fd(fd: jint) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any int is safe: a bad fd gives EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        let e = io::Error::last_os_error();
        // EBADF is the caller's bad fd: InvalidInput, as core reports a
        // wrong-role fd (both become FaasinBadFdException).
        let kind = match e.raw_os_error() {
            Some(libc::EBADF) => io::ErrorKind::InvalidInput,
            _ => e.kind(),
        };
        return Err(io::Error::new(
            kind,
            format!("fd {fd} cannot be opened as a FAASIN stream end: {e}"),
        ));
    }
    // SAFETY: fcntl just made this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Checks that `[pos, pos + len)` lies within a direct buffer of `cap` bytes.
pub(crate) fn check_range(pos: usize, len: usize, cap: usize) -> guard::Result<()> {
    match pos.checked_add(len) {
        Some(end) if end <= cap => Ok(()),
        _ => Err(guard::Fail::Arg(format!(
            "range {pos}+{len} exceeds the buffer's capacity {cap}"
        ))),
    }
}

/// Frees a keepalive handle of a borrowed or reserved view (from the view's
/// `Cleaner`): the ring may be unmapped once its last view is gone.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_keepaliveFree(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    keep: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: Java frees each keepalive handle exactly once, from the
        // Cleaner of the ByteBuffer that held it, after its last use.
        unsafe { handle::free_handle::<faasin::Keepalive>(keep) };
        Ok(())
    })
}

/// Panics on purpose, so tests can check that a panic becomes a Java
/// exception rather than an aborted JVM.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_selfTestPanic(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
) -> jint {
    guard(&mut env, -1, |_| -> guard::Result<jint> {
        panic!("self-test panic requested by Native.selfTestPanic")
    })
}
