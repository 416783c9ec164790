//! The read end: how it copies out of the ring (for `transfer`), and
//! `Native.reader*`, what only it does.

use crate::end::{End, Slice, Stream};
use crate::guard::{entry, Result};
use crate::{PIECE, RETRY};
use faasin::Reader;
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use std::io::BufRead;

/// Fills the reader's buffer: the readable span, or `None` for "wait slice
/// over, retry".
pub(crate) fn fill(r: &mut Reader, slice: &Slice) -> Result<Option<(*mut u8, usize)>> {
    match r.fill_buf() {
        Ok(b) => Ok(Some((b.as_ptr().cast_mut(), b.len()))),
        Err(e) if slice.retries(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True when more bytes can be read without waiting.
fn has_more(r: &mut Reader) -> bool {
    r.available().is_ok_and(|a| a > 0)
}

/// Copies up to `len` readable bytes out of the reader, one piece (at most
/// `PIECE` bytes) at a time: `put(env, done, src, n)` copies `n` bytes from
/// `src` (only read from) to the destination at offset `done`. Only the first piece may
/// wait; later ones take what is there. Returns the count, 0 at EOF, or
/// `RETRY`. An error after some bytes is left for the next call.
pub(crate) fn read_pieces(
    env: &mut JNIEnv<'_>,
    r: &mut Reader,
    slice: &Slice,
    len: usize,
    mut put: impl FnMut(&mut JNIEnv<'_>, usize, *mut u8, usize) -> Result<()>,
) -> Result<jint> {
    let mut done = 0usize;
    while done < len {
        if done > 0 && !has_more(r) {
            break;
        }
        let (ptr, avail) = match fill(r, slice) {
            Ok(Some(span)) => span,
            Ok(None) if done == 0 => return Ok(RETRY),
            Err(e) if done == 0 => return Err(e),
            _ => break,
        };
        if avail == 0 {
            break; // EOF
        }
        let n = avail.min(len - done);
        // Copied piece by piece (each critical region stays short). Each
        // piece is given back when the next one is copied, quietly, so
        // that a spinning writer refills behind the copy; the last one with
        // a wake-up check (a wake-up per piece costs more than the copy,
        // and giving the span back only at its end makes the writer wait
        // for the whole copy).
        let mut k = 0usize;
        let mut pending = 0usize;
        while k < n {
            let p = (n - k).min(PIECE);
            // SAFETY: k < n <= avail: inside the readable span.
            let src = unsafe { ptr.add(k) };
            match put(env, done + k, src, p) {
                Ok(()) => {
                    if pending > 0 {
                        r.release_quietly(pending)?;
                    }
                    pending = p;
                    k += p;
                }
                Err(e) if done + k == 0 => return Err(e),
                Err(_) => {
                    // The bytes copied so far are the answer; the JNI
                    // failure (if it left an exception) comes back on the
                    // next call.
                    let _ = env.exception_clear();
                    r.consume(pending);
                    return Ok((done + k) as jint);
                }
            }
        }
        r.consume(pending);
        done += n;
    }
    Ok(done as jint)
}

entry! {
    /// Bytes readable now without waiting.
    fn Java_io_faasin_Native_readerAvailable(h: jlong) -> jint = 0 => |_| {
        let end = End::get(h)?;
        end.with(|s| match s {
            Stream::Read(r) => Ok(r.available()?.min(i32::MAX as usize) as jint),
            Stream::Write(_) => Err(end.wrong_kind()),
        })
    }
}
