//! `faasin._faasin`: the native module under the `faasin` Python package.
//!
//! Every call that may wait runs with the GIL released and under the end's
//! mutex (taken without the GIL, so a thread blocked in a read never stalls
//! the interpreter). A wait cut short by a signal comes back from core as
//! `Interrupted`: the signal handlers run (Ctrl-C raises KeyboardInterrupt
//! there) and, if they return, the call resumes.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod buffer;
mod end;
mod errors;
mod invocations;
mod reader;
mod writer;

use errors::{io_to_py, Fail, InvalidStreamError};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

/// A pointer carried out of a GIL-free section; it is only turned into a
/// view once the GIL is held again.
pub(crate) struct SendPtr(pub(crate) *mut u8);
// SAFETY: a plain address; its validity is tied to a Keepalive that travels
// with it, and nothing dereferences it on the way.
unsafe impl Send for SendPtr {}

/// Runs `f` on the state behind `m` with the GIL released, resuming after
/// signal handlers whenever core reports `Interrupted`.
pub(crate) fn run_detached<S: Send, R: Send>(
    py: Python<'_>,
    m: &Mutex<S>,
    mut f: impl FnMut(&mut S) -> Result<R, Fail> + Send,
) -> Result<R, Fail> {
    loop {
        let res = py.detach(|| {
            let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g)
        });
        match res {
            Err(Fail::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {
                py.check_signals().map_err(Fail::Py)?;
            }
            other => return other,
        }
    }
}

/// Hands `fd` to core's `from_fd` through a duplicate, so that a refused
/// open (wrong role, bad endpoint) leaves the caller's fd as it was; on
/// success the original is closed and the end owns the duplicate.
pub(crate) fn open_fd<T>(fd: RawFd, open: impl FnOnce(OwnedFd) -> io::Result<T>) -> PyResult<T> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "fd must be a non-negative integer, got {fd}"
        )));
    }
    // SAFETY: F_DUPFD_CLOEXEC on any number is harmless; EBADF says it is
    // not open.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        let e = io::Error::last_os_error();
        return Err(PyOSError::new_err((
            e.raw_os_error().unwrap_or(libc::EBADF),
            format!("fd {fd} cannot be opened as a FAASIN end: {e}"),
        )));
    }
    // SAFETY: `dup` was just created and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    let end = open(owned).map_err(io_to_py)?;
    // SAFETY: the caller handed `fd` over; the end now lives on the duplicate.
    unsafe { libc::close(fd) };
    Ok(end)
}

pub(crate) fn timeout(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(PyValueError::new_err(format!(
            "a timeout must be a finite number of seconds >= 0, got {s}"
        ))),
    }
}

/// Creates a stream in this process: `(RawReader, RawWriter)`.
#[pyfunction]
#[pyo3(signature = (capacity = 1048576))]
fn pipe(capacity: usize) -> PyResult<(reader::RawReader, writer::RawWriter)> {
    let (r, w) = faasin::pipe(capacity).map_err(io_to_py)?;
    Ok((reader::RawReader::new(r), writer::RawWriter::new(w)))
}

/// Creates a stream and returns its raw endpoint fds (read end, write end),
/// owned by the caller and non-inheritable, like `os.pipe()`.
#[pyfunction]
#[pyo3(signature = (capacity = 1048576))]
fn pipe_fds(capacity: usize) -> PyResult<(RawFd, RawFd)> {
    let (r, w) = faasin::pipe_fds(capacity).map_err(io_to_py)?;
    Ok((r.into_raw_fd(), w.into_raw_fd()))
}

/// The function's input stream (FAASIN_FD, fd 3, or FAASIN_SOCKET); once.
#[pyfunction]
fn input() -> PyResult<reader::RawReader> {
    faasin::input()
        .map(reader::RawReader::new)
        .map_err(io_to_py)
}

/// The function's output stream (FAASOUT_FD, fd 4, or FAASIN_SOCKET); once.
#[pyfunction]
fn output() -> PyResult<writer::RawWriter> {
    faasin::output()
        .map(writer::RawWriter::new)
        .map_err(io_to_py)
}

/// True if `fd` is a FAASIN endpoint (nothing is read from it).
/// The streams of a Lambda invocation, by its request id.
#[pyfunction]
fn streams_of(request_id: &str) -> PyResult<(reader::RawReader, writer::RawWriter)> {
    let (r, w) = faasin::streams_of(request_id).map_err(io_to_py)?;
    Ok((reader::RawReader::new(r), writer::RawWriter::new(w)))
}

#[pyfunction]
fn is_endpoint(fd: RawFd) -> bool {
    faasin::is_endpoint(fd)
}

#[pymodule]
fn _faasin(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reader::RawReader>()?;
    m.add_class::<writer::RawWriter>()?;
    m.add_class::<buffer::View>()?;
    m.add_function(wrap_pyfunction!(pipe, m)?)?;
    m.add_function(wrap_pyfunction!(pipe_fds, m)?)?;
    m.add_function(wrap_pyfunction!(input, m)?)?;
    m.add_function(wrap_pyfunction!(output, m)?)?;
    m.add_function(wrap_pyfunction!(is_endpoint, m)?)?;
    m.add_function(wrap_pyfunction!(streams_of, m)?)?;
    m.add_class::<invocations::RawInvocations>()?;
    m.add_class::<invocations::RawCompletion>()?;
    m.add_function(wrap_pyfunction!(invocations::invocations, m)?)?;
    m.add_function(wrap_pyfunction!(invocations::params, m)?)?;
    m.add(
        "InvalidStreamError",
        m.py().get_type::<InvalidStreamError>(),
    )?;
    m.add("DEFAULT_CAPACITY", faasin::DEFAULT_CAPACITY)?;
    m.add("MIN_CAPACITY", faasin::MIN_CAPACITY)?;
    m.add("MAX_CAPACITY", faasin::MAX_CAPACITY)?;
    Ok(())
}

// The pyfunction signatures spell the default capacity as a literal so that
// Python can read it back (inspect, stubtest); keep it equal to core's.
const _: () = assert!(faasin::DEFAULT_CAPACITY == 1048576);
