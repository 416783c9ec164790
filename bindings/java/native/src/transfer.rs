//! `Native.endCopy` and `Native.end*View`: moving bytes between an end and
//! Java memory, and the zero-copy views. One entry point each serves both
//! kinds of end: a reader copies out of the ring and lends readable bytes,
//! a writer copies into it and lends free space.
//!
//! The blocking calls take `waited`, how long the Java call has waited so
//! far (for the timeout, see `End::blocking`), and return `RETRY` (or null)
//! when their wait slice ran out.

use crate::array::{checked_range, with_elements};
use crate::buffer::{direct_range, new_view};
use crate::copy::copy_bytes;
use crate::end::{either, End, Stream};
use crate::guard::{entry, Fail, Result};
use crate::{reader, writer};
use jni::objects::{JByteArray, JByteBuffer, JLongArray, JObject};
use jni::sys::{jboolean, jint, jlong, jobject};
use jni::JNIEnv;

/// Moves up to `len` bytes between the end behind `h` and Java memory, as
/// far as one wait slice allows, one piece at a time: `copy(env, read, done,
/// ring, n)` copies `n` bytes between `ring` and the Java memory at offset
/// `done`, out of the ring for a reader (`read`), into it for a writer.
/// Returns the count, 0 at a reader's EOF, or `RETRY`.
fn copy(
    env: &mut JNIEnv<'_>,
    h: jlong,
    waited: jlong,
    len: usize,
    mut copy: impl FnMut(&mut JNIEnv<'_>, bool, usize, *mut u8, usize) -> Result<()>,
) -> Result<jint> {
    if len == 0 {
        return Ok(0);
    }
    End::get(h)?.blocking(waited, |s, slice| match s {
        Stream::Read(r) => reader::read_pieces(env, r, slice, len, |env, done, ring, n| {
            copy(env, true, done, ring, n)
        }),
        Stream::Write(w) => writer::write_pieces(env, w, slice, len, |env, done, ring, n| {
            copy(env, false, done, ring, n)
        }),
    })
}

/// Copies `n` bytes from `ring` to `java` for a read, the other way for a
/// write.
///
/// # Safety
/// Both are valid for `n` bytes, and the ranges do not overlap.
unsafe fn copy_between(read: bool, ring: *mut u8, java: *mut u8, n: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        if read {
            copy_bytes(ring, java, n)
        } else {
            copy_bytes(java, ring, n)
        }
    }
}

entry! {
    /// Reads into, or writes from, `[off, off + len)` of `mem`: a `byte[]`,
    /// or (`direct`) a direct ByteBuffer's memory, which is then the one
    /// copy between ring and buffer.
    fn Java_io_faasin_Native_endCopy(
        h: jlong, waited: jlong, mem: JObject<'_>, direct: jboolean, off: jint, len: jint,
    ) -> jint = -1 => |env| {
        if direct != 0 {
            let (addr, len) = direct_range(env, &JByteBuffer::from(mem), off, len)?;
            return copy(env, h, waited, len, |_, read, done, ring, n| {
                // SAFETY: [done, done + n) of the buffer lies within its
                // memory (checked above), which the Java caller keeps
                // reachable; `ring` is `n` readable (or reserved, or staged)
                // bytes. They do not overlap: a read-only borrowed view is
                // refused as a destination, and a borrowed view, covering
                // only unread bytes, is never reserved space.
                unsafe { copy_between(read, ring, addr.add(done), n) };
                Ok(())
            });
        }
        let arr = JByteArray::from(mem);
        let (off, len) = checked_range(env, &arr, off, len)?;
        copy(env, h, waited, len, |env, read, done, ring, n| {
            with_elements(env, &arr, read, |elems| {
                // SAFETY: `ring` is `n` readable (or reserved, or staged)
                // bytes that stay put until consumed (or committed); `off +
                // done + n <= len` of the array (checked above), whose
                // elements are pinned for the critical region; ring and Java
                // heap do not overlap.
                unsafe { copy_between(read, ring, elems.add(off + done), n) }
            })
        })
    }
}

entry! {
    /// The zero-copy view: a direct ByteBuffer over every readable byte in
    /// the ring (capacity 0 at EOF), or over at least `min` free bytes (all
    /// free space, up to an int); null for `RETRY`. `keep_out[0]` gets a
    /// keepalive handle that the buffer's Cleaner frees.
    fn Java_io_faasin_Native_endOpenView(
        h: jlong,
        waited: jlong,
        min: jint,
        keep_out: JLongArray<'_>,
    ) -> jobject = std::ptr::null_mut() => |env| {
        End::get(h)?.blocking(waited, |s, slice| {
            let span = match s {
                Stream::Read(r) => reader::fill(r, slice)?,
                Stream::Write(w) => writer::reserve(w, slice, min.max(0) as usize)?,
            };
            let Some((ptr, len)) = span else {
                return Ok(std::ptr::null_mut());
            };
            // Taken after the span: a writer's fallback may grow its buffer
            // to reserve.
            let keep = either!(s, e => e.keepalive());
            // SAFETY: the `len` bytes at `ptr` stay mapped while the end's
            // keepalive lives.
            unsafe { new_view(env, ptr, len, keep, &keep_out) }
        })
    }
}

entry! {
    /// Ends the view: a reader releases its first `n` bytes to the writer, a
    /// writer publishes them.
    fn Java_io_faasin_Native_endCloseView(h: jlong, n: jint) -> () = () => |_| {
        let n = n.max(0) as usize;
        End::get(h)?.with(|s| match s {
            Stream::Read(r) => r.release(n).map_err(|e| Fail::State(e.to_string())),
            Stream::Write(w) => w.commit(n).map_err(|e| Fail::invalid_input_as(e, Fail::State)),
        })
    }
}
