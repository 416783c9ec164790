//! `RawReader`: the native read end under `faasin.Reader`.

use crate::buffer::{UserBuf, View, ViewState};
use crate::errors::{buffer_err, closed_err, Fail};
use crate::{open_fd, run_detached, SendPtr};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io::{self, BufRead, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The borrow handed out by `borrow()` and not yet given back.
struct Pending {
    state: Arc<ViewState>,
    len: usize,
    /// Bytes to release once every export of the view is gone.
    amount: usize,
}

struct State {
    /// `None` once closed.
    r: Option<faasin::Reader>,
    pending: Option<Pending>,
}

impl State {
    /// The reader, after finishing a borrow whose views are all gone;
    /// refuses while a borrowed view is still in use.
    fn settle(&mut self) -> Result<&mut faasin::Reader, Fail> {
        let State { r, pending } = self;
        let r = r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
        if let Some(p) = pending {
            if !p.state.is_ended() {
                return Err(buffer_err(
                    "a borrow() of this reader is still open: leave its with-block first".into(),
                ));
            }
            let n = p.state.exports();
            if n > 0 {
                return Err(buffer_err(format!(
                    "{n} memoryview export(s) of bytes borrowed from this reader are still \
                     alive: release them (del the views/slices or call .release()) first"
                )));
            }
            r.release(p.amount)?;
            *pending = None;
        }
        Ok(r)
    }
}

/// Native read end. Use `faasin.Reader`, the `io.BufferedIOBase` over it.
#[pyclass(module = "faasin._faasin", frozen)]
pub struct RawReader {
    st: Mutex<State>,
    fd: i32,
    is_ring: bool,
    capacity: Option<usize>,
    closed: AtomicBool,
}

impl RawReader {
    pub(crate) fn new(r: faasin::Reader) -> RawReader {
        RawReader {
            fd: r.as_raw_fd(),
            is_ring: r.is_ring(),
            capacity: r.capacity(),
            st: Mutex::new(State {
                r: Some(r),
                pending: None,
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// `read(max)` straight into a new `bytes` of `max` bytes: one copy out
    /// of the ring, with the GIL released, as `FileIO.read(n)` reads into
    /// its result. Short only at EOF or, non-blocking, when the ring ran
    /// dry; then the bytes read are copied into a right-sized object.
    fn read_direct<'py>(
        &self,
        py: Python<'py>,
        max: usize,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut got: Option<Result<usize, Fail>> = None;
        let full = PyBytes::new_with(py, max, |dst| {
            let mut done = 0usize;
            got = Some(self.run(py, |st| {
                let r = st.settle()?;
                while done < max {
                    match r.read(&mut dst[done..]) {
                        Ok(0) => break,
                        Ok(k) => done += k,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock && done > 0 => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(done)
            }));
            Ok(())
        })?;
        match none_if_would_block(got.expect("new_with runs its closure"))? {
            None => Ok(None),
            Some(done) if done == max => Ok(Some(full)),
            Some(done) => to_bytes(py, &full.as_bytes()[..done]).map(Some),
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

/// `Ok(None)` for `WouldBlock`: no data yet in non-blocking mode.
fn none_if_would_block<R>(r: Result<R, Fail>) -> PyResult<Option<R>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Fail::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e.into_py()),
    }
}

/// `read(n)` up to this size allocates its result up front and reads into
/// it (`FileIO.read(n)` does the same); larger ones grow a buffer as bytes
/// come, so that `read(huge)` on a short stream does not allocate `huge`.
const DIRECT_READ_MAX: usize = 64 << 20;

/// `extend_from_slice` through `faasin::copy_bytes`: a large Vec sits at
/// page + 16 (glibc's mmap-ed blocks), where a plain memcpy from a
/// page-aligned ring span runs many times slower on some AMD CPUs.
fn append(out: &mut Vec<u8>, src: &[u8]) {
    let old = out.len();
    out.resize(old + src.len(), 0);
    faasin::copy_bytes(&mut out[old..], src);
}

/// A new `bytes` holding `data`, copied with `faasin::copy_bytes` (see
/// `append`).
fn to_bytes<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, data.len(), |b| {
        faasin::copy_bytes(b, data);
        Ok(())
    })
}

fn limit(n: Option<isize>) -> usize {
    match n {
        Some(n) if n >= 0 => n as usize,
        _ => usize::MAX,
    }
}

#[pymethods]
impl RawReader {
    /// Opens the read end of a stream from an fd this call takes over (a
    /// FAASIN endpoint, or any readable fd, used with plain read(2)).
    #[staticmethod]
    fn from_fd(fd: i32) -> PyResult<RawReader> {
        open_fd(fd, faasin::Reader::from_fd).map(RawReader::new)
    }

    fn fileno(&self) -> PyResult<i32> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err(
                "I/O operation on closed FAASIN reader",
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

    /// Reads into a writable buffer: until it is full or EOF, or (with
    /// `one`) what one read gives. `None` if nothing is there in
    /// non-blocking mode.
    #[pyo3(signature = (buf, one = false))]
    fn readinto(
        &self,
        py: Python<'_>,
        buf: &Bound<'_, PyAny>,
        one: bool,
    ) -> PyResult<Option<usize>> {
        let mut ub = UserBuf::get(buf, true)?;
        let len = ub.len();
        // SAFETY: the only slice of this export, used until `ub` drops.
        let dst = unsafe { ub.as_mut_slice() };
        let mut done = 0usize;
        let res = self.run(py, |st| {
            let r = st.settle()?;
            while done < len {
                match r.read(&mut dst[done..]) {
                    Ok(0) => break,
                    Ok(k) => {
                        done += k;
                        if one {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && done > 0 => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(done)
        });
        none_if_would_block(res)
    }

    /// Reads up to `n` bytes (all to EOF if `n` < 0), or with `one` what one
    /// read gives. `None` if nothing is there in non-blocking mode.
    #[pyo3(signature = (n = None, one = false))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        n: Option<isize>,
        one: bool,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let max = limit(n);
        if !one && max > 0 && max <= DIRECT_READ_MAX {
            return self.read_direct(py, max);
        }
        let mut out: Vec<u8> = Vec::new();
        let res = self.run(py, |st| {
            let r = st.settle()?;
            while out.len() < max {
                let buf = match r.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !out.is_empty() => break,
                    Err(e) => return Err(e.into()),
                };
                if buf.is_empty() {
                    break;
                }
                let k = buf.len().min(max - out.len());
                append(&mut out, &buf[..k]);
                r.consume(k);
                if one {
                    break;
                }
            }
            Ok(())
        });
        none_if_would_block(res)?
            .map(|()| to_bytes(py, &out))
            .transpose()
    }

    /// Reads one line (up to and including b"\n"), at most `limit` bytes.
    #[pyo3(signature = (limit = None))]
    fn readline<'py>(
        &self,
        py: Python<'py>,
        limit: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let max = self::limit(limit);
        let mut line: Vec<u8> = Vec::new();
        let res = self.run(py, |st| {
            let r = st.settle()?;
            while line.len() < max {
                let buf = match r.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !line.is_empty() => break,
                    Err(e) => return Err(e.into()),
                };
                if buf.is_empty() {
                    break;
                }
                let span = &buf[..buf.len().min(max - line.len())];
                match span.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        append(&mut line, &span[..=i]);
                        r.consume(i + 1);
                        break;
                    }
                    None => {
                        let k = span.len();
                        append(&mut line, span);
                        r.consume(k);
                    }
                }
            }
            Ok(())
        });
        res.map_err(Fail::into_py)?;
        to_bytes(py, &line)
    }

    /// Returns readable bytes without consuming them (waits for at least
    /// one unless at EOF), at most `n` if `n` > 0.
    #[pyo3(signature = (n = 0))]
    fn peek<'py>(&self, py: Python<'py>, n: isize) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let max = if n > 0 { n as usize } else { usize::MAX };
        let mut out = Vec::new();
        let res = self.run(py, |st| {
            let r = st.settle()?;
            let buf = r.fill_buf()?;
            append(&mut out, &buf[..buf.len().min(max)]);
            Ok(())
        });
        none_if_would_block(res)?
            .map(|()| to_bytes(py, &out))
            .transpose()
    }

    /// Lends the readable bytes (at most `size` if `size` >= 0) as a
    /// read-only View over the ring, waiting for at least one byte unless at
    /// EOF (then the view is empty). `None` in non-blocking mode if none.
    #[pyo3(signature = (size = None))]
    fn borrow(&self, py: Python<'_>, size: Option<isize>) -> PyResult<Option<View>> {
        let max = limit(size);
        let state = Arc::new(ViewState::default());
        let res = self.run(py, |st| {
            let r = st.settle()?;
            let keep = r.keepalive();
            let buf = r.fill_buf()?;
            let len = buf.len().min(max);
            let ptr = SendPtr(buf.as_ptr().cast_mut());
            st.pending = Some(Pending {
                state: state.clone(),
                len,
                amount: 0,
            });
            Ok((ptr, len, keep))
        });
        Ok(none_if_would_block(res)?
            .map(|(ptr, len, keep)| View::new(ptr.0, len, true, state, keep)))
    }

    /// Ends the open borrow and consumes its first `n` bytes. If a view of
    /// it is still exported, raises BufferError; the bytes are then consumed
    /// by the next operation after the last export is released.
    fn end_borrow(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.run(py, |st| {
            let State { r, pending } = st;
            let Some(r) = r.as_mut() else {
                return Ok(());
            };
            let p = pending
                .as_mut()
                .ok_or_else(|| Fail::Py(PyValueError::new_err("no borrow() is open")))?;
            if n > p.len {
                return Err(Fail::Py(PyValueError::new_err(format!(
                    "cannot consume {n} bytes of a borrow of {}",
                    p.len
                ))));
            }
            p.state.end();
            p.amount = n;
            let exports = p.state.exports();
            if exports > 0 {
                return Err(buffer_err(format!(
                    "{exports} memoryview export(s) of the borrowed ring bytes outlive the \
                     borrow: release them (del the slices or call .release()); the reader \
                     refuses to go on until then"
                )));
            }
            r.release(n)?;
            *pending = None;
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    /// Bytes readable now without waiting.
    fn available(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |st| {
            let r = st.r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
            Ok(r.available()?)
        })
        .map_err(Fail::into_py)
    }

    fn set_blocking(&self, py: Python<'_>, blocking: bool) -> PyResult<()> {
        self.run(py, |st| {
            let r = st.r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
            Ok(r.set_nonblocking(!blocking)?)
        })
        .map_err(Fail::into_py)
    }

    fn get_blocking(&self, py: Python<'_>) -> PyResult<bool> {
        self.run(py, |st| {
            let r = st.r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
            Ok(!r.is_nonblocking())
        })
        .map_err(Fail::into_py)
    }

    /// Blocking reads waiting longer than `seconds` raise TimeoutError.
    fn set_timeout(&self, py: Python<'_>, seconds: Option<f64>) -> PyResult<()> {
        let t = crate::timeout(seconds)?;
        self.run(py, |st| {
            let r = st.r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
            r.set_timeout(t);
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    /// How long a waiting read spins before sleeping.
    fn set_spin(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let t = crate::timeout(Some(seconds))?.unwrap_or(Duration::ZERO);
        self.run(py, |st| {
            let r = st.r.as_mut().ok_or_else(|| closed_err("FAASIN reader"))?;
            r.set_spin(t);
            Ok(())
        })
        .map_err(Fail::into_py)
    }

    /// Closes the end (the writer then gets BrokenPipeError). Refused with
    /// BufferError while a borrowed view is exported, unless `force` (used
    /// by finalizers: the memory stays mapped for the view anyway).
    #[pyo3(signature = (force = false))]
    fn close(&self, py: Python<'_>, force: bool) -> PyResult<()> {
        let res = self.run(py, |st| {
            if let Some(p) = &st.pending {
                let n = p.state.exports();
                if n > 0 && !force {
                    return Err(buffer_err(format!(
                        "cannot close the reader: {n} memoryview export(s) of borrowed \
                         bytes are still alive"
                    )));
                }
                p.state.end();
            }
            st.pending = None;
            let r = st.r.take();
            self.closed.store(true, Ordering::Relaxed);
            if let Some(r) = r {
                r.close()?;
            }
            Ok(())
        });
        res.map_err(Fail::into_py)
    }
}
