//! The write end: how it copies into the ring (for `transfer`), and
//! `Native.writer*`, what only it does.

use crate::end::{End, Slice, Stream};
use crate::guard::{entry, Fail, Result};
use crate::{PIECE, RETRY};
use faasin::Writer;
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use std::io::Write;

/// Copies `len` bytes into the writer, one piece (at most `PIECE` bytes)
/// at a time, as far as they fit within one wait slice: `take(env, done, dst, n)`
/// copies `n` bytes from the source at offset `done` to `dst`. Returns the
/// count written, or `RETRY` if nothing could be written yet. An error
/// after a partial write is reported by the next call, as with write(2).
pub(crate) fn write_pieces(
    env: &mut JNIEnv<'_>,
    w: &mut Writer,
    slice: &Slice,
    len: usize,
    mut take: impl FnMut(&mut JNIEnv<'_>, usize, *mut u8, usize) -> Result<()>,
) -> Result<jint> {
    let mut done = 0usize;
    while done < len {
        let span = match w.reserve_slice(1) {
            Ok(s) => s,
            Err(_) if done > 0 => break,
            Err(e) if slice.retries(&e) => return Ok(RETRY),
            Err(e) => return Err(e.into()),
        };
        let n = span.len().min(len - done).min(PIECE);
        match take(env, done, span.as_mut_ptr(), n) {
            Ok(()) => {}
            Err(e) if done == 0 => return Err(e),
            Err(_) => {
                // Report what was written; the JNI failure (if it left an
                // exception) comes back on the next call.
                let _ = env.exception_clear();
                break;
            }
        }
        match w.commit(n) {
            Ok(()) => done += n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done as jint)
}

/// A write from a direct buffer on the plain-fd fallback: straight
/// write(2)s from the buffer, no staging copy.
///
/// # Safety
/// `src` is valid for reading `len` bytes for the duration of the call.
pub(crate) unsafe fn write_fd(
    w: &mut Writer,
    slice: &Slice,
    src: *const u8,
    len: usize,
) -> Result<jint> {
    // SAFETY: the caller's contract.
    let src = unsafe { std::slice::from_raw_parts(src, len) };
    let mut done = 0usize;
    while done < len {
        let end = (done + PIECE).min(len);
        match w.write(&src[done..end]) {
            Ok(n) => done += n,
            Err(e) if done == 0 && slice.retries(&e) => return Ok(RETRY),
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done as jint)
}

/// Reserves at least `min` bytes: the free span, or `None` for "wait slice
/// over, retry".
pub(crate) fn reserve(
    w: &mut Writer,
    slice: &Slice,
    min: usize,
) -> Result<Option<(*mut u8, usize)>> {
    match w.reserve_slice(min) {
        Ok(s) => Ok(Some((s.as_mut_ptr(), s.len()))),
        Err(e) if slice.retries(&e) => Ok(None),
        // A `min` beyond the capacity is the caller's mistake.
        Err(e) => Err(Fail::invalid_input_as(e, Fail::Arg)),
    }
}

entry! {
    /// Checks that the reader is still there (every write is visible already).
    fn Java_io_faasin_Native_writerFlush(h: jlong) -> () = () => |_| {
        let end = End::get(h)?;
        end.with(|s| match s {
            Stream::Write(w) => Ok(w.flush()?),
            Stream::Read(_) => Err(end.wrong_kind()),
        })
    }
}
