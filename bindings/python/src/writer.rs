//! `RawWriter`: the native write end under `faasin.Writer`.

use crate::buffer::{UserBuf, View, ViewState};
use crate::end::end_class;
use crate::errors::Fail;
use crate::SendPtr;
use pyo3::exceptions::PyBlockingIOError;
use pyo3::prelude::*;
use std::io::{self, Write};
use std::sync::Arc;

end_class!(
    /// Native write end. Use `faasin.Writer`, the `io.BufferedIOBase` over it.
    RawWriter,
    faasin::Writer
);

#[pymethods]
impl RawWriter {
    /// Writes all bytes of any buffer (no copy before the ring) and returns
    /// their count. In non-blocking mode, if not all fit now, it writes what
    /// fits and raises BlockingIOError with `characters_written` set.
    fn write(&self, py: Python<'_>, buf: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ub = UserBuf::get(buf, false)?;
        let src = ub.as_slice();
        let mut done = 0usize;
        let n = self
            .end
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
        self.end
            .run(py, |st| Ok(st.settle()?.flush()?))
            .map_err(Fail::into_py)
    }

    /// Reserves writable bytes in the ring as a View: exactly `n`, or with
    /// `greedy` all free space (at least `n`). Waits for space; `None` in
    /// non-blocking mode if there is not enough.
    #[pyo3(signature = (n, greedy = false))]
    fn reserve(&self, py: Python<'_>, n: usize, greedy: bool) -> PyResult<Option<View>> {
        let state = Arc::new(ViewState::default());
        let res = self.end.run(py, |st| {
            let w = st.settle()?;
            let keep = w.keepalive();
            let span = w.reserve_slice(n)?;
            let len = if greedy { span.len() } else { n };
            let ptr = SendPtr(span.as_mut_ptr());
            st.start_view(state.clone(), len);
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
        self.end.end_view(py, n)
    }
}
