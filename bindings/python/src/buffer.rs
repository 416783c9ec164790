//! Buffers crossing the boundary: `View`, the native object behind the
//! memoryviews that `borrow()`/`reserve()` hand out (it counts its exports so
//! the ring is never released under a live memoryview), and `UserBuf`, a
//! caller's buffer held through the buffer protocol while the GIL is released.

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// State a view shares with the end that handed it out.
#[derive(Default)]
pub(crate) struct ViewState {
    /// Live buffer exports (memoryviews and anything else holding one).
    /// Relaxed is enough: every update and read happens under the GIL or
    /// under the end's mutex, which order them.
    exports: AtomicUsize,
    /// The borrow or reservation is over: no new exports.
    ended: AtomicBool,
}

impl ViewState {
    pub(crate) fn exports(&self) -> usize {
        self.exports.load(Ordering::Relaxed)
    }
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
    }
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

struct Span(*mut u8);
// SAFETY: the pointer is into the ring mapping (or the fallback heap buffer),
// which `keep` holds alive; it is only dereferenced by Python through the
// buffer protocol, under the GIL.
unsafe impl Send for Span {}
// SAFETY: as above; the struct itself is never mutated.
unsafe impl Sync for Span {}

/// Bytes of a ring lent to Python: wrap it in `memoryview()` to use it.
/// Read-only for `borrow()`, writable for `reserve()`.
#[pyclass(module = "faasin._faasin", frozen)]
pub struct View {
    ptr: Span,
    len: usize,
    readonly: bool,
    state: Arc<ViewState>,
    _keep: faasin::Keepalive,
}

impl View {
    pub(crate) fn new(
        ptr: *mut u8,
        len: usize,
        readonly: bool,
        state: Arc<ViewState>,
        keep: faasin::Keepalive,
    ) -> View {
        View {
            ptr: Span(ptr),
            len,
            readonly,
            state,
            _keep: keep,
        }
    }
}

#[pymethods]
impl View {
    fn __len__(&self) -> usize {
        self.len
    }

    /// Live exports of this view (memoryviews and slices that hold it).
    #[getter]
    fn exports(&self) -> usize {
        self.state.exports()
    }

    /// # Safety
    /// Called by CPython with a valid `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        if this.state.is_ended() {
            return Err(PyBufferError::new_err(
                "this FAASIN view has ended (its borrow or reservation is over)",
            ));
        }
        // SAFETY: `view` is the caller's Py_buffer; ptr/len describe memory
        // kept mapped by `_keep` for as long as this object lives, and the
        // buffer holds a reference to this object (view->obj).
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.ptr.0.cast(),
                this.len as ffi::Py_ssize_t,
                c_int::from(this.readonly),
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.state.exports.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// # Safety
    /// Called by CPython once per successful `__getbuffer__`.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.state.exports.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A caller's contiguous buffer, held (exported) until dropped, so that a
/// bytearray cannot be resized under us while the GIL is released.
pub(crate) struct UserBuf {
    view: Box<ffi::Py_buffer>,
}

// SAFETY: the export stays valid until released; the pointer is used from
// one thread at a time (the caller's, with or without the GIL), and the
// release in Drop re-attaches to the interpreter.
unsafe impl Send for UserBuf {}

impl UserBuf {
    /// Gets a C-contiguous byte view of `obj`, writable if asked.
    pub(crate) fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<UserBuf> {
        let mut view = Box::new(ffi::Py_buffer::new());
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: obj is a live object, view points to a Py_buffer we own;
        // PyBUF_SIMPLE asks for a contiguous span of bytes (no strides).
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) };
        if rc != 0 {
            let err = PyErr::fetch(obj.py());
            if writable && err.is_instance_of::<PyBufferError>(obj.py()) {
                // What io's own readinto raises for a read-only buffer.
                let ty = obj
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                return Err(PyTypeError::new_err(format!(
                    "readinto() needs a writable bytes-like object, not '{ty}' ({err})"
                )));
            }
            return Err(err);
        }
        Ok(UserBuf { view })
    }

    pub(crate) fn len(&self) -> usize {
        self.view.len as usize
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.view.buf.cast()
    }

    /// # Safety
    /// Only while no other slice of this buffer is alive.
    pub(crate) unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len() == 0 {
            return &mut [];
        }
        // SAFETY: the exporter guarantees `len` bytes at `buf` while the
        // export lasts; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len()) }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.len() == 0 {
            return &[];
        }
        // SAFETY: as in `as_mut_slice`, read-only.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len()) }
    }
}

impl Drop for UserBuf {
    fn drop(&mut self) {
        Python::attach(|_py| {
            // SAFETY: the view was filled by a successful PyObject_GetBuffer
            // and is released exactly once, with the interpreter attached.
            unsafe { ffi::PyBuffer_Release(&mut *self.view) };
        });
    }
}
