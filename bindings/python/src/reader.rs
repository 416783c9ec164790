//! `RawReader`: the native read end under `faasin.Reader`.

use crate::buffer::{UserBuf, View, ViewState};
use crate::end::end_class;
use crate::errors::Fail;
use crate::SendPtr;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io::{self, BufRead, Read};
use std::sync::Arc;

end_class!(
    /// Native read end. Use `faasin.Reader`, the `io.BufferedIOBase` over it.
    RawReader,
    faasin::Reader
);

impl RawReader {
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
            got = Some(
                self.end
                    .run(py, |st| read_into(st.settle()?, dst, &mut done, false)),
            );
            Ok(())
        })?;
        match none_if_would_block(got.expect("new_with runs its closure"))? {
            None => Ok(None),
            Some(done) if done == max => Ok(Some(full)),
            Some(done) => to_bytes(py, &full.as_bytes()[..done]).map(Some),
        }
    }
}

/// Reads into `dst[*done..]` until it is full or EOF, or (with `one`) what
/// one read gives; `*done` keeps the count across a resumed call. Returns
/// the count; `WouldBlock` only if nothing was read.
fn read_into(
    r: &mut faasin::Reader,
    dst: &mut [u8],
    done: &mut usize,
    one: bool,
) -> Result<usize, Fail> {
    while *done < dst.len() {
        match r.read(&mut dst[*done..]) {
            Ok(0) => break,
            Ok(k) => {
                *done += k;
                if one {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && *done > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(*done)
}

/// Where `gather` stops, besides EOF and the size limit.
#[derive(Clone, Copy)]
enum Until {
    /// After what one wait brings.
    OneRead,
    /// After a b"\n".
    Newline,
    /// Only at EOF or the limit.
    Full,
}

/// Appends readable bytes to `out` until it holds `max` bytes, EOF, or
/// `until`; `WouldBlock` only if `out` is empty.
fn gather(r: &mut faasin::Reader, out: &mut Vec<u8>, max: usize, until: Until) -> Result<(), Fail> {
    while out.len() < max {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !out.is_empty() => break,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            break;
        }
        let span = &buf[..buf.len().min(max - out.len())];
        let (k, stop) = match until {
            Until::OneRead => (span.len(), true),
            Until::Newline => match span.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (span.len(), false),
            },
            Until::Full => (span.len(), false),
        };
        append(out, &span[..k]);
        r.consume(k);
        if stop {
            break;
        }
    }
    Ok(())
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
        // SAFETY: the only slice of this export, used until `ub` drops.
        let dst = unsafe { ub.as_mut_slice() };
        let mut done = 0usize;
        let res = self
            .end
            .run(py, |st| read_into(st.settle()?, dst, &mut done, one));
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
        let until = if one { Until::OneRead } else { Until::Full };
        let mut out: Vec<u8> = Vec::new();
        let res = self
            .end
            .run(py, |st| gather(st.settle()?, &mut out, max, until));
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
        let res = self.end.run(py, |st| {
            gather(st.settle()?, &mut line, max, Until::Newline)
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
        let res = self.end.run(py, |st| {
            let buf = st.settle()?.fill_buf()?;
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
        let res = self.end.run(py, |st| {
            let r = st.settle()?;
            let keep = r.keepalive();
            let buf = r.fill_buf()?;
            let len = buf.len().min(max);
            let ptr = SendPtr(buf.as_ptr().cast_mut());
            st.start_view(state.clone(), len);
            Ok((ptr, len, keep))
        });
        Ok(none_if_would_block(res)?
            .map(|(ptr, len, keep)| View::new(ptr.0, len, true, state, keep)))
    }

    /// Ends the open borrow and consumes its first `n` bytes. If a view of
    /// it is still exported, raises BufferError; the bytes are then consumed
    /// by the next operation after the last export is released.
    fn end_borrow(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.end.end_view(py, n)
    }

    /// Bytes readable now without waiting.
    fn available(&self, py: Python<'_>) -> PyResult<usize> {
        self.end.with_open(py, |r| r.available())
    }
}
