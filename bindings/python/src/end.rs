//! What `RawReader` and `RawWriter` share: an end behind a mutex that is
//! taken with the GIL released, the zero-copy view it has handed out (a
//! borrow or a reservation), close, and the Python methods both classes
//! have ([`end_class!`]).

use crate::buffer::ViewState;
use crate::errors::{buffer_err, closed_err, Fail};
use crate::run_detached;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The words a kind of end uses in its messages.
pub(crate) struct Words {
    /// "reader" / "writer".
    name: &'static str,
    /// The call that opens a view: "borrow" / "reserve".
    open: &'static str,
    /// What the view is: "borrow" / "reservation".
    view: &'static str,
    /// Its bytes: "borrowed from this reader" / "reserved in this writer".
    bytes: &'static str,
    /// What ending the view does with them: "consume" / "commit".
    finish: &'static str,
}

/// What `End` needs of a core end beyond its inherent methods.
pub(crate) trait Side: Send + AsRawFd {
    const WORDS: Words;
    fn is_ring(&self) -> bool;
    fn capacity(&self) -> Option<usize>;
    /// Releases (reader) or commits (writer) the first `n` bytes of the view.
    fn finish_view(&mut self, n: usize) -> io::Result<()>;
    fn close(self) -> io::Result<()>;
}

/// Implements `Side` for a core end whose `$finish` method finishes a view.
macro_rules! side {
    ($end:ty, $finish:ident, $words:expr) => {
        impl Side for $end {
            const WORDS: Words = $words;
            fn is_ring(&self) -> bool {
                <$end>::is_ring(self)
            }
            fn capacity(&self) -> Option<usize> {
                <$end>::capacity(self)
            }
            fn finish_view(&mut self, n: usize) -> io::Result<()> {
                self.$finish(n)
            }
            fn close(self) -> io::Result<()> {
                <$end>::close(self)
            }
        }
    };
}

side!(
    faasin::Reader,
    release,
    Words {
        name: "reader",
        open: "borrow",
        view: "borrow",
        bytes: "borrowed from this reader",
        finish: "consume",
    }
);
side!(
    faasin::Writer,
    commit,
    Words {
        name: "writer",
        open: "reserve",
        view: "reservation",
        bytes: "reserved in this writer",
        finish: "commit",
    }
);

/// The view handed out by `borrow()` / `reserve()` and not yet finished.
struct Pending {
    state: Arc<ViewState>,
    len: usize,
    /// Bytes to finish once every export of the view is gone.
    amount: usize,
}

pub(crate) struct State<E> {
    /// `None` once closed.
    end: Option<E>,
    pending: Option<Pending>,
}

impl<E: Side> State<E> {
    /// The open end, as it is.
    pub(crate) fn open(&mut self) -> Result<&mut E, Fail> {
        self.end
            .as_mut()
            .ok_or_else(|| closed_err(&format!("FAASIN {}", E::WORDS.name)))
    }

    /// The open end, after finishing a view whose exports are all gone;
    /// refuses while a view is still in use.
    pub(crate) fn settle(&mut self) -> Result<&mut E, Fail> {
        if let Some(p) = &self.pending {
            if !p.state.is_ended() {
                return Err(buffer_err(format!(
                    "a {}() of this {} is still open: leave its with-block first",
                    E::WORDS.open,
                    E::WORDS.name
                )));
            }
            let n = p.state.exports();
            if n > 0 {
                return Err(buffer_err(format!(
                    "{n} memoryview export(s) of bytes {} are still alive: release them (del \
                     the views/slices or call .release()) first",
                    E::WORDS.bytes
                )));
            }
        }
        let amount = self.pending.take().map(|p| p.amount);
        let end = self.open()?;
        if let Some(n) = amount {
            end.finish_view(n)?;
        }
        Ok(end)
    }

    /// Records a view of `len` bytes just handed out.
    pub(crate) fn start_view(&mut self, state: Arc<ViewState>, len: usize) {
        self.pending = Some(Pending {
            state,
            len,
            amount: 0,
        });
    }

    /// Ends the open view and finishes its first `n` bytes, or, while it
    /// is still exported, leaves them for the next operation after the
    /// last export is released (and says so with BufferError).
    fn end_view(&mut self, n: usize) -> Result<(), Fail> {
        let State { end, pending } = self;
        let Some(end) = end.as_mut() else {
            return Ok(());
        };
        let p = pending.as_mut().ok_or_else(|| {
            Fail::Py(PyValueError::new_err(format!(
                "no {}() is open",
                E::WORDS.open
            )))
        })?;
        if n > p.len {
            return Err(Fail::Py(PyValueError::new_err(format!(
                "cannot {} {n} bytes of a {} of {}",
                E::WORDS.finish,
                E::WORDS.view,
                p.len
            ))));
        }
        p.state.end();
        p.amount = n;
        let exports = p.state.exports();
        if exports > 0 {
            return Err(buffer_err(format!(
                "{exports} memoryview export(s) of the bytes {} outlive the {}: release them \
                 (del the slices or call .release()); the {} refuses to go on until then",
                E::WORDS.bytes,
                E::WORDS.view,
                E::WORDS.name
            )));
        }
        *pending = None;
        Ok(end.finish_view(n)?)
    }
}

/// A native end: its state behind a mutex, and what never changes.
pub(crate) struct End<E> {
    st: Mutex<State<E>>,
    fd: RawFd,
    is_ring: bool,
    capacity: Option<usize>,
    closed: AtomicBool,
}

impl<E: Side> End<E> {
    pub(crate) fn new(end: E) -> End<E> {
        End {
            fd: end.as_raw_fd(),
            is_ring: end.is_ring(),
            capacity: end.capacity(),
            st: Mutex::new(State {
                end: Some(end),
                pending: None,
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` on the state with the GIL released (see `run_detached`).
    pub(crate) fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnMut(&mut State<E>) -> Result<R, Fail> + Send,
    ) -> Result<R, Fail> {
        run_detached(py, &self.st, f)
    }

    /// Runs `f` on the open end with the GIL released.
    pub(crate) fn with_open<R: Send>(
        &self,
        py: Python<'_>,
        mut f: impl FnMut(&mut E) -> io::Result<R> + Send,
    ) -> PyResult<R> {
        self.run(py, |st| Ok(f(st.open()?)?)).map_err(Fail::into_py)
    }

    pub(crate) fn fileno(&self) -> PyResult<RawFd> {
        if self.is_closed() {
            return Err(PyValueError::new_err(format!(
                "I/O operation on closed FAASIN {}",
                E::WORDS.name
            )));
        }
        Ok(self.fd)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn is_ring(&self) -> bool {
        self.is_ring
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    pub(crate) fn end_view(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.run(py, |st| st.end_view(n)).map_err(Fail::into_py)
    }

    /// Closes the end. Refused with BufferError while a view is exported,
    /// unless `force` (used by finalizers: the memory stays mapped for the
    /// view anyway). An open view is not finished.
    pub(crate) fn close(&self, py: Python<'_>, force: bool) -> PyResult<()> {
        self.run(py, |st| {
            if let Some(p) = &st.pending {
                let n = p.state.exports();
                if n > 0 && !force {
                    return Err(buffer_err(format!(
                        "cannot close the {}: {n} memoryview export(s) of bytes {} are still \
                         alive",
                        E::WORDS.name,
                        E::WORDS.bytes
                    )));
                }
                p.state.end();
            }
            st.pending = None;
            let end = st.end.take();
            self.closed.store(true, Ordering::Relaxed);
            match end {
                Some(e) => Ok(e.close()?),
                None => Ok(()),
            }
        })
        .map_err(Fail::into_py)
    }
}

/// Defines `$class`, the Python class of a native end over the core end
/// `$end`, with the methods both kinds have; its own go in a further
/// `#[pymethods]` block.
macro_rules! end_class {
    ($(#[$doc:meta])* $class:ident, $end:ty) => {
        $(#[$doc])*
        #[pyclass(module = "faasin._faasin", frozen)]
        pub struct $class {
            end: $crate::end::End<$end>,
        }

        impl $class {
            pub(crate) fn new(end: $end) -> $class {
                $class {
                    end: $crate::end::End::new(end),
                }
            }
        }

        #[pymethods]
        impl $class {
            /// Opens the end from an fd this call takes over (a FAASIN
            /// endpoint, or any fd of the right direction, used with plain
            /// read(2) / write(2)).
            #[staticmethod]
            fn from_fd(fd: i32) -> PyResult<$class> {
                $crate::open_fd(fd, <$end>::from_fd).map($class::new)
            }

            fn fileno(&self) -> PyResult<i32> {
                self.end.fileno()
            }

            #[getter]
            fn closed(&self) -> bool {
                self.end.is_closed()
            }

            #[getter]
            fn is_ring(&self) -> bool {
                self.end.is_ring()
            }

            #[getter]
            fn capacity(&self) -> Option<usize> {
                self.end.capacity()
            }

            fn set_blocking(&self, py: Python<'_>, blocking: bool) -> PyResult<()> {
                self.end.with_open(py, |e| e.set_nonblocking(!blocking))
            }

            fn get_blocking(&self, py: Python<'_>) -> PyResult<bool> {
                self.end.with_open(py, |e| Ok(!e.is_nonblocking()))
            }

            /// Blocking calls waiting longer than `seconds` raise
            /// TimeoutError; `None` waits forever.
            fn set_timeout(&self, py: Python<'_>, seconds: Option<f64>) -> PyResult<()> {
                let t = $crate::timeout(seconds)?;
                self.end.with_open(py, |e| {
                    e.set_timeout(t);
                    Ok(())
                })
            }

            /// How long a waiting call spins before sleeping.
            fn set_spin(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
                let t = $crate::timeout(Some(seconds))?.unwrap_or_default();
                self.end.with_open(py, |e| {
                    e.set_spin(t);
                    Ok(())
                })
            }

            /// Closes the end. Refused with BufferError while a view is
            /// exported, unless `force`.
            #[pyo3(signature = (force = false))]
            fn close(&self, py: Python<'_>, force: bool) -> PyResult<()> {
                self.end.close(py, force)
            }
        }
    };
}
pub(crate) use end_class;
