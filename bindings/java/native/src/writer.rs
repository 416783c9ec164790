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
    // The plain-fd fallback writes each piece from a staging buffer: a
    // commit there is a write(2) that cannot be resumed after a timeout
    // part-way, and a JNI critical region must not span a wait.
    let mut stage = if w.is_ring() {
        Vec::new()
    } else {
        vec![0u8; len.min(PIECE)]
    };
    let mut done = 0usize;
    while done < len {
        let step = if w.is_ring() {
            ring_piece(env, w, len - done, |env, dst, n| take(env, done, dst, n))
        } else {
            let n = (len - done).min(PIECE);
            take(env, done, stage.as_mut_ptr(), n).and_then(|()| Ok(w.write(&stage[..n])?))
        };
        match step {
            Ok(n) => done += n,
            Err(e) if done == 0 => {
                return match e {
                    Fail::Io(e) if slice.retries(&e) => Ok(RETRY),
                    e => Err(e),
                }
            }
            Err(_) => {
                // Report what was written; the failure (a pending JNI
                // exception, or the end's error) comes back on the next call.
                let _ = env.exception_clear();
                break;
            }
        }
    }
    Ok(done as jint)
}

/// Reserves ring space for up to `left` bytes (at most `PIECE`), fills it
/// with `take(env, dst, n)` and commits it: the count.
fn ring_piece(
    env: &mut JNIEnv<'_>,
    w: &mut Writer,
    left: usize,
    mut take: impl FnMut(&mut JNIEnv<'_>, *mut u8, usize) -> Result<()>,
) -> Result<usize> {
    let span = w.reserve_slice(1)?;
    let n = span.len().min(left).min(PIECE);
    take(env, span.as_mut_ptr(), n)?;
    w.commit(n)?;
    Ok(n)
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
