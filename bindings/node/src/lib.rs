//! Node binding of FAASIN (napi-rs). This native part exposes each end as a
//! non-blocking object (`NativeReader` / `NativeWriter`) plus readiness
//! callbacks; `index.js` turns them into `stream.Readable` / `Writable`.
//! The event loop never blocks: a would-block returns `null`, and a waiter
//! thread per end (see `waiter.rs`) polls the fd and calls back into JS.
#![deny(unsafe_op_in_unsafe_fn)]

mod end;
mod errors;
mod invocations;
mod reader;
mod slab;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
mod waiter;
mod writer;

use errors::{byte_count, throw, throw_code};
use napi::{Env, JsBuffer};
use napi_derive::napi;
use reader::NativeReader;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use writer::NativeWriter;

/// Default ring capacity in bytes (1 MiB).
#[napi]
pub const DEFAULT_CAPACITY: u32 = faasin::DEFAULT_CAPACITY as u32;

/// Creates a stream and returns its raw endpoint fds `[readFd, writeFd]`,
/// close-on-exec, for children (spawn's `stdio`) or `openReader`/`openWriter`.
/// The caller owns both fds.
#[napi(catch_unwind)]
pub fn pipe_fds(env: Env, capacity: f64) -> napi::Result<Vec<i32>> {
    let capacity = byte_count(&env, capacity, "capacity")?;
    let (r, w) = faasin::pipe_fds(capacity).map_err(|e| throw(&env, e))?;
    Ok(vec![r.into_raw_fd(), w.into_raw_fd()])
}

/// Opens a new end with `open` from an fd the caller owns. The fd is
/// duplicated first, so a failed open (wrong role, malformed endpoint)
/// leaves the caller's fd open and its; after a successful one the original
/// is closed and the end owns the copy.
fn open_fd<E>(env: &Env, fd: i32, open: impl FnOnce(OwnedFd) -> io::Result<E>) -> napi::Result<E> {
    if fd < 0 {
        return Err(throw_code(env, "EBADF", &format!("{fd} is not an fd")));
    }
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; on an fd that is not open it
    // fails with EBADF.
    let dup = unsafe { libc::fcntl(fd as RawFd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        let e = io::Error::last_os_error();
        return Err(throw_code(env, "EBADF", &format!("fd {fd}: {e}")));
    }
    // SAFETY: fcntl just created `dup`; nothing else owns it.
    let end = open(unsafe { OwnedFd::from_raw_fd(dup) }).map_err(|e| throw(env, e))?;
    // SAFETY: the caller handed `fd` over to this successful open.
    unsafe { libc::close(fd) };
    Ok(end)
}

/// Opens the read end of a stream from an fd the caller owns (a FAASIN
/// endpoint, or any readable fd, read with read(2)). On success the end
/// owns it; on error it is left open.
#[napi(catch_unwind)]
pub fn open_reader(env: Env, fd: i32) -> napi::Result<NativeReader> {
    open_fd(&env, fd, |fd| {
        faasin::Reader::from_fd(fd).and_then(NativeReader::new)
    })
}

/// Opens the write end of a stream from an fd the caller owns; see
/// `open_reader`.
#[napi(catch_unwind)]
pub fn open_writer(env: Env, fd: i32) -> napi::Result<NativeWriter> {
    open_fd(&env, fd, |fd| {
        faasin::Writer::from_fd(fd).and_then(NativeWriter::new)
    })
}

/// The function's input stream (FAASIN_FD, fd 3, or FAASIN_SOCKET).
#[napi(catch_unwind)]
pub fn input(env: Env) -> napi::Result<NativeReader> {
    faasin::input()
        .and_then(NativeReader::new)
        .map_err(|e| throw(&env, e))
}

/// The function's output stream (FAASOUT_FD, fd 4, or FAASIN_SOCKET).
#[napi(catch_unwind)]
pub fn output(env: Env) -> napi::Result<NativeWriter> {
    faasin::output()
        .and_then(NativeWriter::new)
        .map_err(|e| throw(&env, e))
}

/// The invocations this process serves (see `invocations()` in index.js).
#[napi(catch_unwind)]
pub fn invocations() -> invocations::NativeInvocations {
    invocations::NativeInvocations::new()
}

/// The raw endpoint fds `[readFd, writeFd]` of a Lambda invocation, by its
/// request id (`faasin::streams_of`); the caller owns both.
#[napi(catch_unwind)]
pub fn stream_fds_of(env: Env, request_id: String) -> napi::Result<Vec<i32>> {
    let (r, w) = faasin::stream_fds_of(&request_id).map_err(|e| throw(&env, e))?;
    Ok(vec![r.into_raw_fd(), w.into_raw_fd()])
}

/// A one-shot function's parameters (env FAASIN_PARAMS; `null` when unset
/// or empty).
#[napi(catch_unwind)]
pub fn params() -> Option<String> {
    faasin::params()
}

/// A slab for stream reads (see `slab.rs`): a Buffer over `size` bytes
/// (rounded up to whole pages, or whole huge pages from 2 MiB) of pooled
/// memory, or of a new mapping
/// when the pool has none and `may_map` is true; `null` when it has none
/// and `may_map` is false (the caller then lets the event loop run the
/// finalizers that refill the pool, and asks again). The Buffer's finalizer
/// gives the memory back to the pool once V8 has freed its backing store.
#[napi(catch_unwind)]
pub fn new_slab(env: Env, size: f64, may_map: bool) -> napi::Result<Option<JsBuffer>> {
    let size = byte_count(&env, size, "slab size")?;
    let Some(slab) = slab::take(size, may_map).map_err(|e| throw(&env, e))? else {
        prompt_young_gc(&env)?;
        return Ok(None);
    };
    let (ptr, len) = (slab.ptr(), slab.len());
    // SAFETY: ptr/len is the slab's mapping, owned by `slab`, which moves
    // into the finalizer: the memory stays mapped, and out of the pool,
    // until V8 has freed the Buffer's backing store, when no view of it is
    // left. (Where external buffers are not allowed, napi-rs copies the
    // bytes into a V8 Buffer and runs the finalizer at once: the slab goes
    // back to the pool and the reads land in that copy, still correct.)
    let buf = unsafe {
        env.create_buffer_with_borrowed_data(ptr, len, slab, |s, _env| slab::recycle(s))
    }?;
    Ok(Some(buf.into_raw()))
}

/// Lets V8 collect dead slabs with a cheap young-generation GC.
///
/// V8 (Node 20) starts a scavenge for young array-buffer memory, which
/// counts slabs too, only from the check it makes when it allocates an
/// array buffer's memory itself, never for external memory like a slab.
/// Without such a check, dead slabs waited for a full mark-compact after
/// some 64 MiB of them (seen with `--trace-gc`), and the pool ran dry
/// meanwhile. A small array buffer (above V8's on-heap limit for typed
/// arrays) makes V8 check; with it, `--trace-gc` shows a scavenge every
/// 7-8 slabs of 4 MiB.
fn prompt_young_gc(env: &Env) -> napi::Result<()> {
    env.create_arraybuffer(128)?;
    Ok(())
}

/// The slab size a reader uses for reads of up to `readSize` bytes.
#[napi(catch_unwind)]
pub fn slab_size_for(env: Env, read_size: f64) -> napi::Result<f64> {
    let read_size = byte_count(&env, read_size, "read size")?;
    Ok(slab::slab_size_for(read_size) as f64)
}

/// Empties the slab pool once no reader has been open for a while; returns
/// the milliseconds to wait before calling again (0: nothing left to do).
#[napi(catch_unwind)]
pub fn trim_slab_pool() -> f64 {
    slab::trim().as_secs_f64() * 1000.0
}
