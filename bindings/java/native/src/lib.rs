//! JNI glue for the `io.faasin` Java classes: every `native` method of
//! `io.faasin.Native` is implemented here, over the `faasin` core crate.
//!
//! Conventions shared by all entry points:
//! - each is declared with `entry!` (in `guard`), so that its body runs
//!   inside `guard::guard`, which turns Rust errors and panics into Java
//!   exceptions;
//! - objects cross the boundary as `long` handles (`handle`), freed only by
//!   the Java side's `Cleaner`;
//! - a blocking call waits at most `WAIT_SLICE` (core's timeout) and then
//!   returns `RETRY`, so the Java caller can check `Thread.interrupted()`
//!   (the JVM does not signal a thread it interrupts) and call again; the
//!   user's timeout is passed to core as the last slice (`end::Slice`).
//!   No JVM lock and no JNI critical region is held while waiting.
#![deny(unsafe_op_in_unsafe_fn)]

mod array;
mod buffer;
mod copy;
mod end;
mod guard;
mod handle;
mod handoff;
mod invocations;
mod pipe;
mod reader;
#[cfg(feature = "test-hooks")]
mod test_hooks;
mod transfer;
mod writer;

use jni::sys::jint;
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

handle::free_entry!(
    /// Frees a keepalive handle of a borrowed or reserved view (from the
    /// view's `Cleaner`): the ring may be unmapped once its last view is gone.
    Java_io_faasin_Native_keepaliveFree,
    faasin::Keepalive
);
