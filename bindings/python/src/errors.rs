//! One place where `std::io::Error` from core becomes a Python exception.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyBlockingIOError, PyBrokenPipeError, PyBufferError, PyOSError, PyTimeoutError, PyValueError,
};
use pyo3::PyErr;
use std::io;

create_exception!(
    _faasin,
    InvalidStreamError,
    PyOSError,
    "The fd is not a well-formed FAASIN endpoint, or the peer corrupted the ring \
     (core's InvalidData). An OSError with errno EBADMSG."
);

/// Converts a core error, keeping the errno Python code tests for.
pub(crate) fn io_to_py(e: io::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        io::ErrorKind::BrokenPipe => PyBrokenPipeError::new_err((libc::EPIPE, msg)),
        io::ErrorKind::WouldBlock => PyBlockingIOError::new_err((libc::EAGAIN, msg)),
        io::ErrorKind::TimedOut => PyTimeoutError::new_err((libc::ETIMEDOUT, msg)),
        io::ErrorKind::InvalidInput => PyValueError::new_err(msg),
        io::ErrorKind::InvalidData => InvalidStreamError::new_err((libc::EBADMSG, msg)),
        _ => match e.raw_os_error() {
            // OSError(errno, ...) picks the matching subclass by itself.
            Some(n) => PyOSError::new_err((n, msg)),
            None => PyOSError::new_err(msg),
        },
    }
}

/// Why an operation run without the GIL failed: an I/O error that may be
/// `Interrupted` (then signals are checked and the operation resumed), or a
/// Python error decided without the GIL (lazily built).
pub(crate) enum Fail {
    Io(io::Error),
    Py(PyErr),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

impl From<PyErr> for Fail {
    fn from(e: PyErr) -> Fail {
        Fail::Py(e)
    }
}

impl Fail {
    pub(crate) fn into_py(self) -> PyErr {
        match self {
            Fail::Io(e) => io_to_py(e),
            Fail::Py(e) => e,
        }
    }
}

pub(crate) fn closed_err(what: &str) -> Fail {
    Fail::Py(PyValueError::new_err(format!(
        "I/O operation on closed {what}"
    )))
}

pub(crate) fn buffer_err(msg: String) -> Fail {
    Fail::Py(PyBufferError::new_err(msg))
}
