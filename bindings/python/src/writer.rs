//! `RawWriter`: the native write end under `faasin.Writer`.

use crate::buffer::{UserBuf, View, ViewState};
use crate::errors::{buffer_err, closed_err, Fail};
use crate::{open_fd, run_detached, SendPtr};
use pyo3::exceptions::{PyBlockingIOError, PyValueError};
use pyo3::prelude::*;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The reservation handed out by `reserve()` and not yet committed.
struct Pending {
    state: Arc<ViewState>,
    len: usize,
    /// Bytes to commit once every export of the view is gone.
    amount: usize,
}

struct State {
    w: Option<faasin::Writer>,
    pending: Option<Pending>,
}

impl State {
    fn settle(&mut self) -> Result<&mut faasin::Writer, Fail> {
        let State { w, pending } = self;
        let w = w.as_mut().ok_or_else(|| closed_err("FAASIN writer"))?;
        if let Some(p) = pending {
            if !p.state.is_ended() {
                return Err(buffer_err(
                    "a reserve() of this writer is still open: leave its with-block first".into(),
                ));
            }
            let n = p.state.exports();
            if n > 0 {
                return Err(buffer_err(format!(
                    "{n} memoryview export(s) of bytes reserved in this writer are still \
                     alive: release them (del the views/slices or call .release()) first"
                )));
            }
            let amount = p.amount;
            *pending = None;
            w.commit(amount)?;
        }
        Ok(w)
    }
}

/// Native write end. Use `faasin.Writer`, the `io.BufferedIOBase` over it.
#[pyclass(module = "faasin._faasin", frozen)]
pub struct RawWriter {
    st: Mutex<State>,
    fd: i32,
    is_ring: bool,
    capacity: Option<usize>,
    closed: AtomicBool,
}

impl RawWriter {
    pub(crate) fn new(w: faasin::Writer) -> RawWriter {
        RawWriter {
            fd: w.as_raw_fd(),
            is_ring: w.is_ring(),
            capacity: w.capacity(),
            st: Mutex::new(State {
                w: Some(w),
                pending: None,
            }),
            closed: AtomicBool::new(false),
        }
    }

    fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnMut(&mut State) -> Result<R, Fail> + Send,
    ) -> Result<R, Fail> {
        run_detached(py, &self.st, f)
    }
}

#[pymethods]
impl RawWriter {
    /// Opens the write end of a stream from an fd this call takes over.
    #[staticmethod]
    fn from_fd(fd: i32) -> PyResult<RawWriter> {
        open_fd(fd, faasin::Writer::from_fd).map(RawWriter::new)
    }

    fn fileno(&self) -> PyResult<i32> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err(
                "I/O operation on closed FAASIN writer",
            ));
        }
        Ok(self.fd)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    #[getter]
    fn is_ring(&self) -> bool {
        self.is_ring
    }

    #[getter]
    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Writes all bytes of any buffer (no copy before the ring) and returns
    /// their count. In non-blocking mode, if not all fit now, it writes what
    /// fits and raises BlockingIOError with `characters_written` set.
    fn write(&self, py: Python<'_>, buf: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ub = UserBuf::get(buf, false)?;
        let src = ub.as_slice();
        let mut done = 0usize;
        let n = self
            .run(py, |st| {
                let w = st.settle()?;
                while done < src.len() {
                    match w.write(&src[done..]) {
                        Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                        Ok(k) => done += k,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(done)
            })
            .map_err(Fail::into_py)?;
        if n < src.len() {
            // BufferedWriter's convention: the count written rides on the error.
            return Err(PyBlockingIOError::new_err((
                libc::EAGAIN,
                format!(
                    "FAASIN ring full (non-blocking mode): wrote {n} of {} bytes",
                    src.len()
                ),
                n,
            )));
        }
        Ok(n)
    }

    /// Raises BrokenPipeError if the reader left; every write is already
    /// visible to the reader.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |st| Ok(st.settle()?.flush()?))
            .map_err(Fail::into_py)
    }

    /// Reserves writable bytes in the ring as a View: exactly `n`, or with
    /// `greedy` all free space (at least `n`). Waits for space; `None` in
    /// non-blocking mode if there is not enough.
    #[pyo3(signature = (n, greedy = false))]
    fn reserve(&self, py: Python<'_>, n: usize, greedy: bool) -> PyResult<Option<View>> {
        let state = Arc::new(ViewState::default());
        let res = self.run(py, |st| {
            let w = st.settle()?;
            let keep = w.keepalive();
            let span = w.reserve_slice(n)?;
            let len = if greedy { span.len() } else { n };
            let ptr = SendPtr(span.as_mut_ptr());
            st.pending = Some(Pending {
                state: state.clone(),
                len,
                amount: 0,
            });
            Ok((ptr, len, keep))
        });
        match res {
            Ok((ptr, len, keep)) => Ok(Some(View::new(ptr.0, len, false, state, keep))),
            Err(Fail::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into_py()),
        }
    }

    /// Ends the open reservation and commits its first `n` bytes. If a view
    /// of it is still exported, raises BufferError; the bytes are then
    /// committed by the next operation after the last export is released.
    fn end_reserve(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.run(py, |st| {
            let State { w, pending } = st;
            let Some(w) = w.as_mut() else {
                return Ok(());
            };
            let p = pending
                .as_mut()
                .ok_or_else(|| Fail::Py(PyValueError::new_err("no reserve() is open")))?;
            if n > p.len {
                return Err(Fail::Py(PyValueError::new_err(format!(
                    "cannot commit {n} bytes of a reservation of {}",
                    p.len
                ))));
            }
            p.state.end();
            p.amount = n;
            let exports = p.state.exports();
            if exports > 0 {
                return Err(buffer_err(format!(
                    "{exports} memoryview export(s) of the reserved ring bytes outlive the \
                     reservation: release them (del the slices or call .release()); the \
                     writer refuses to go on until then"
                )));
            }
            *pending = None;
            w.commit(n)?;
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    fn set_blocking(&self, py: Python<'_>, blocking: bool) -> PyResult<()> {
        self.run(py, |st| {
            let w = st.w.as_mut().ok_or_else(|| closed_err("FAASIN writer"))?;
            Ok(w.set_nonblocking(!blocking)?)
        })
        .map_err(Fail::into_py)
    }

    fn get_blocking(&self, py: Python<'_>) -> PyResult<bool> {
        self.run(py, |st| {
            let w = st.w.as_mut().ok_or_else(|| closed_err("FAASIN writer"))?;
            Ok(!w.is_nonblocking())
        })
        .map_err(Fail::into_py)
    }

    /// Blocking writes waiting longer than `seconds` raise TimeoutError.
    fn set_timeout(&self, py: Python<'_>, seconds: Option<f64>) -> PyResult<()> {
        let t = crate::timeout(seconds)?;
        self.run(py, |st| {
            let w = st.w.as_mut().ok_or_else(|| closed_err("FAASIN writer"))?;
            w.set_timeout(t);
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    /// How long a waiting write spins before sleeping.
    fn set_spin(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let t = crate::timeout(Some(seconds))?.unwrap_or(Duration::ZERO);
        self.run(py, |st| {
            let w = st.w.as_mut().ok_or_else(|| closed_err("FAASIN writer"))?;
            w.set_spin(t);
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    /// Closes the end (the reader gets EOF after every committed byte).
    /// Refused with BufferError while a reserved view is exported, unless
    /// `force`. An open reservation is not committed.
    #[pyo3(signature = (force = false))]
    fn close(&self, py: Python<'_>, force: bool) -> PyResult<()> {
        self.run(py, |st| {
            if let Some(p) = &st.pending {
                let n = p.state.exports();
                if n > 0 && !force {
                    return Err(buffer_err(format!(
                        "cannot close the writer: {n} memoryview export(s) of reserved \
                         bytes are still alive"
                    )));
                }
                p.state.end();
            }
            st.pending = None;
            let w = st.w.take();
            self.closed.store(true, Ordering::Relaxed);
            if let Some(w) = w {
                w.close()?;
            }
            Ok(())
        })
        .map_err(Fail::into_py)
    }
}
