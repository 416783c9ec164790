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

/// Defines the `Native.*Free` entry point `$name`, which frees a handle of a
/// `$ty` (0 is a no-op).
macro_rules! free_entry {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $crate::guard::entry! {
            $(#[$doc])*
            fn $name(h: jni::sys::jlong) -> () = () => |_| {
                // SAFETY: the Java side frees each handle once, from the
                // Cleaner action of its owner (run when the owner is
                // unreachable, or by an explicit clean), after its last use.
                unsafe { $crate::handle::free_handle::<$ty>(h) };
                Ok(())
            }
        }
    };
}
pub(crate) use free_entry;
