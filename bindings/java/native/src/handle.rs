//! Native objects behind the `long` handles that the Java classes hold.
//!
//! A handle is a `Box` turned into a raw pointer. It is freed only by the
//! `*Free` entry point, which the Java side calls from a `Cleaner` once the
//! owning Java object is unreachable, and every Java method keeps its object
//! reachable (`Reference.reachabilityFence`) across its native calls. So a
//! handle passed to a native method always points at a live box, even when
//! another thread closed the end meanwhile: closing only empties the box.

use crate::guard::{Fail, Result};
use jni::sys::jlong;
use std::sync::{Mutex, MutexGuard};

/// One stream end (a `faasin::Reader` or `faasin::Writer`), `None` once
/// closed. The mutex makes a Java object usable from several threads; the
/// blocking calls hold it for at most one core timeout (see `WAIT_SLICE`).
pub(crate) struct End<T> {
    slot: Mutex<Option<T>>,
    what: &'static str,
}

impl<T> End<T> {
    pub(crate) fn boxed(end: T, what: &'static str) -> jlong {
        into_handle(End {
            slot: Mutex::new(Some(end)),
            what,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<T>> {
        // A panic while locked (already reported to Java) leaves the end in
        // a state that core keeps memory-safe; go on using it.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the open end, or fails with "... closed".
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> Result<R>) -> Result<R> {
        let mut slot = self.lock();
        match slot.as_mut() {
            Some(end) => f(end),
            None => Err(Fail::Closed(self.what)),
        }
    }

    /// Takes the end out (to close it); `None` if it was closed already.
    pub(crate) fn take(&self) -> Option<T> {
        self.lock().take()
    }
}

pub(crate) fn into_handle<T>(v: T) -> jlong {
    Box::into_raw(Box::new(v)) as jlong
}

/// Borrows the object behind a handle.
///
/// # Safety
/// `h` must be 0 or a handle made by [`into_handle`] for a `T` and not yet
/// given to [`free_handle`]; the Java classes guarantee this (module docs).
pub(crate) unsafe fn deref_handle<'a, T>(h: jlong) -> Result<&'a T> {
    if h == 0 {
        return Err(Fail::State("FAASIN object has no native handle".into()));
    }
    // SAFETY: the caller guarantees that `h` is a live `Box<T>` pointer.
    Ok(unsafe { &*(h as *const T) })
}

/// Frees the object behind a handle; 0 is a no-op.
///
/// # Safety
/// As for [`deref_handle`], and no other reference to the object may be in
/// use or used later.
pub(crate) unsafe fn free_handle<T>(h: jlong) {
    if h != 0 {
        // SAFETY: the caller guarantees `h` came from `into_handle::<T>` and
        // is freed exactly once, after its last use.
        drop(unsafe { Box::from_raw(h as *mut T) });
    }
}
