//! Direct access to the bytes of a Java `byte[]` for one short copy.
//!
//! `Get/SetByteArrayRegion` would copy with the JVM's own `memmove`, which
//! has the slow case described in [`crate::copy`]; a JNI critical region
//! gives us the array's address so that [`crate::copy::copy_bytes`] can do
//! the copy. The region holds off the garbage collector, so it covers one
//! piece (at most `PIECE` bytes) and nothing inside it waits or calls JNI.

use crate::guard::{Fail, Result};
use jni::objects::JByteArray;
use jni::sys::{jboolean, jint, JNI_ABORT};
use jni::JNIEnv;

/// Checks `[off, off + len)` against the array's length; returns both as
/// usize. The Java caller checked already; this keeps a bad call from
/// ever reaching memory outside the array.
pub(crate) fn checked_range(
    env: &JNIEnv<'_>,
    arr: &JByteArray<'_>,
    off: jint,
    len: jint,
) -> Result<(usize, usize)> {
    let size = env.get_array_length(arr)?;
    match (usize::try_from(off), usize::try_from(len)) {
        (Ok(o), Ok(l)) if o.checked_add(l).is_some_and(|end| end <= size as usize) => Ok((o, l)),
        _ => Err(Fail::Arg(format!(
            "range {off}+{len} is outside the array of {size} bytes"
        ))),
    }
}

/// Releases the critical region when dropped, also if `f` panicked.
struct Critical {
    env: *mut jni::sys::JNIEnv,
    arr: jni::sys::jarray,
    elems: *mut std::ffi::c_void,
    mode: jint,
}

impl Drop for Critical {
    fn drop(&mut self) {
        // SAFETY: `elems` came from GetPrimitiveArrayCritical on this env
        // and array and is released exactly once, here.
        unsafe {
            if let Some(release) = (**self.env).ReleasePrimitiveArrayCritical {
                release(self.env, self.arr, self.elems, self.mode);
            }
        }
    }
}

/// Runs `f` with the address of `arr`'s first element, inside a JNI
/// critical region. `write_back` says whether `f` wrote the elements
/// (else they are released without copying back, should the JVM have
/// given a copy). `f` must be short, must not block, and must not call JNI.
pub(crate) fn with_elements<R>(
    env: &JNIEnv<'_>,
    arr: &JByteArray<'_>,
    write_back: bool,
    f: impl FnOnce(*mut u8) -> R,
) -> Result<R> {
    let raw = env.get_raw();
    // SAFETY: `raw` is this thread's valid JNIEnv; its function table is
    // filled in by the JVM.
    let get = unsafe { (**raw).GetPrimitiveArrayCritical }
        .ok_or_else(|| Fail::State("JNI lacks GetPrimitiveArrayCritical".into()))?;
    let mut is_copy: jboolean = 0;
    // SAFETY: valid env, a live local reference to a primitive array.
    let elems = unsafe { get(raw, arr.as_raw(), &mut is_copy) };
    if elems.is_null() {
        // The JVM threw (OutOfMemoryError): keep that exception.
        return Err(Fail::Jni(jni::errors::Error::NullPtr(
            "GetPrimitiveArrayCritical",
        )));
    }
    let region = Critical {
        env: raw,
        arr: arr.as_raw(),
        elems,
        mode: if write_back { 0 } else { JNI_ABORT },
    };
    let r = f(elems.cast::<u8>());
    drop(region);
    Ok(r)
}
