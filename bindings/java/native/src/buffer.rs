//! Direct `ByteBuffer`s: a caller's buffer that a read fills or a write
//! drains in place, and the zero-copy views over ring memory that
//! `borrow()` and `reserve()` hand out.

use crate::guard::{Fail, Result};
use crate::handle::{free_handle, into_handle};
use faasin::Keepalive;
use jni::objects::{JByteBuffer, JLongArray};
use jni::sys::{jint, jobject};
use jni::JNIEnv;

/// The address of `[pos, pos + len)` of a direct buffer, checked against
/// its capacity, and `len`. The Java caller keeps the buffer reachable for
/// the duration of its native call.
pub(crate) fn direct_range(
    env: &mut JNIEnv<'_>,
    buf: &JByteBuffer<'_>,
    pos: jint,
    len: jint,
) -> Result<(*mut u8, usize)> {
    let addr = env.get_direct_buffer_address(buf)?;
    let cap = env.get_direct_buffer_capacity(buf)?;
    match (usize::try_from(pos), usize::try_from(len)) {
        (Ok(p), Ok(l)) if p.checked_add(l).is_some_and(|end| end <= cap) => {
            // SAFETY: p <= cap: within (or one past) the buffer's memory.
            Ok((unsafe { addr.add(p) }, l))
        }
        _ => Err(Fail::Arg(format!(
            "range {pos}+{len} exceeds the buffer's capacity {cap}"
        ))),
    }
}

/// A direct buffer over `len` bytes at `ptr` (capped at an int: a larger
/// span is lent in parts); `keep_out[0]` gets the handle of `keep`, which
/// the buffer's Cleaner frees.
///
/// # Safety
/// `ptr` must be valid for reading and writing `len` bytes for as long as
/// `keep` lives.
pub(crate) unsafe fn new_view(
    env: &mut JNIEnv<'_>,
    ptr: *mut u8,
    len: usize,
    keep: Keepalive,
    keep_out: &JLongArray<'_>,
) -> Result<jobject> {
    let len = len.min(i32::MAX as usize);
    let keep = into_handle(keep);
    let made = (|| {
        // SAFETY: `ptr` is valid for `len` bytes while the keepalive lives
        // (the caller's contract), and Java frees it only once the buffer
        // and every buffer derived from it are unreachable.
        let bb = unsafe { env.new_direct_byte_buffer(ptr, len) }?;
        env.set_long_array_region(keep_out, 0, &[keep])?;
        Ok::<_, Fail>(bb.into_raw())
    })();
    if made.is_err() {
        // SAFETY: `keep` was just made and Java never saw it.
        unsafe { free_handle::<Keepalive>(keep) };
    }
    made
}
