//! `faasin.invocations()`: warm functions (one process, many invocations).

use crate::errors::io_to_py;
use crate::reader::RawReader;
use crate::writer::RawWriter;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::sync::Mutex;

/// Iterator over the invocations this process serves. Use
/// `faasin.invocations()`.
#[pyclass(module = "faasin._faasin", frozen)]
pub struct RawInvocations {
    it: Mutex<faasin::Invocations>,
}

#[pymethods]
impl RawInvocations {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next invocation's `(reader, writer, completion)`; waits, without
    /// the GIL, as long as the runner takes to send one.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<(RawReader, RawWriter, RawCompletion)>> {
        let next = py.detach(|| self.it.lock().unwrap_or_else(|p| p.into_inner()).next());
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(io_to_py(e)),
            Some(Ok(inv)) => {
                let (r, w, done) = inv.into_parts();
                Ok(Some((
                    RawReader::new(r),
                    RawWriter::new(w),
                    RawCompletion {
                        params: done.params().map(str::to_owned),
                        done: Mutex::new(Some(done)),
                    },
                )))
            }
        }
    }
}

/// What sends an invocation's return value; once. It keeps the
/// invocation's parameters.
#[pyclass(module = "faasin._faasin", frozen)]
pub struct RawCompletion {
    done: Mutex<Option<faasin::Completion>>,
    params: Option<String>,
}

#[pymethods]
impl RawCompletion {
    /// The invocation's parameters (None: the runner gave none).
    #[getter]
    fn params(&self) -> Option<&str> {
        self.params.as_deref()
    }

    /// Sends the return value (to the warm runner, or stdout); once.
    fn finish(&self, py: Python<'_>, value: &[u8]) -> PyResult<()> {
        let done = self
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this invocation was already finished"))?;
        let value = value.to_vec();
        py.detach(move || done.finish(&value)).map_err(io_to_py)
    }
}

/// The invocations this process serves (see `faasin.invocations`).
#[pyfunction]
pub fn invocations() -> RawInvocations {
    RawInvocations {
        it: Mutex::new(faasin::invocations()),
    }
}

/// A one-shot function's parameters (env FAASIN_PARAMS; None if unset or
/// empty).
#[pyfunction]
pub fn params() -> Option<String> {
    faasin::params()
}
