//! `Native.reader*`: the read end behind `io.faasin.FaasinInputStream`.

use crate::array::{checked_range, with_elements};
use crate::copy::copy_bytes;
use crate::guard::{guard, Fail, Result};
use crate::handle::{deref_handle, free_handle, into_handle, End};
use crate::{check_range, is_retry, poll_fd, PIECE, RETRY, WAIT_SLICE};
use faasin::Reader;
use jni::objects::{JByteArray, JByteBuffer, JClass, JLongArray};
use jni::sys::{jboolean, jint, jlong, jobject};
use jni::JNIEnv;
use std::io::BufRead;
use std::os::fd::{AsFd, AsRawFd};

type ReaderEnd = End<Reader>;

pub(crate) fn open(mut r: Reader) -> jlong {
    r.set_timeout(Some(WAIT_SLICE));
    End::boxed(r, "FAASIN input stream")
}

fn end<'a>(h: jlong) -> Result<&'a ReaderEnd> {
    // SAFETY: Java passes the handle of a reachable FaasinInputStream
    // (handle module docs).
    unsafe { deref_handle(h) }
}

/// For the plain-fd fallback: false when nothing arrived within the wait
/// slice (the ring waits by itself, with core's timeout).
fn fallback_ready(r: &mut Reader) -> Result<bool> {
    if r.is_ring() || r.available()? > 0 {
        return Ok(true);
    }
    Ok(poll_fd(r.as_fd(), libc::POLLIN, WAIT_SLICE))
}

/// Fills the reader's buffer: `Ok(None)` means "wait slice over, retry".
fn fill(r: &mut Reader) -> Result<Option<(*const u8, usize)>> {
    if !fallback_ready(r)? {
        return Ok(None);
    }
    match r.fill_buf() {
        Ok(b) => Ok(Some((b.as_ptr(), b.len()))),
        Err(e) if is_retry(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True when more bytes can be read without waiting.
fn has_more(r: &mut Reader) -> bool {
    r.available().is_ok_and(|a| a > 0)
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerInput(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
) -> jlong {
    guard(&mut env, 0, |_| Ok(open(faasin::input()?)))
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerFromFd(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    fd: jint,
) -> jlong {
    guard(&mut env, 0, |_| {
        Ok(open(Reader::from_fd(crate::dup_fd(fd)?)?))
    })
}

/// Copies up to `len` readable bytes out of the reader, one piece (at most
/// `PIECE` bytes) at a time: `put(env, done, src, n)` copies `n` bytes from
/// `src` to the destination at offset `done`. Only the first piece may
/// wait; later ones take what is there. Returns the count, 0 at EOF, or
/// `RETRY`. An error after some bytes is left for the next call.
fn read_pieces(
    env: &mut JNIEnv<'_>,
    r: &mut Reader,
    len: usize,
    mut put: impl FnMut(&mut JNIEnv<'_>, usize, *const u8, usize) -> Result<()>,
) -> Result<jint> {
    let mut done = 0usize;
    while done < len {
        if done > 0 && !has_more(r) {
            break;
        }
        let (ptr, avail) = match fill(r) {
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
        // a wake-up check (a wake-up per piece cost more than the copy: 1 MiB
        // reads between two JVMs swung between 1.3x and 4.6x the unix
        // socket; giving the span back only at its end made the writer wait
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

/// Copies up to `len` bytes straight from the ring into `arr[off..]`.
/// Returns the count, 0 at EOF, or `RETRY`.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerRead<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    arr: JByteArray<'l>,
    off: jint,
    len: jint,
) -> jint {
    guard(&mut env, -1, |env| {
        let (off, len) = checked_range(env, &arr, off, len)?;
        end(h)?.with(|r| {
            if len == 0 {
                return Ok(0);
            }
            read_pieces(env, r, len, |env, done, src, n| {
                with_elements(env, &arr, true, |elems| {
                    // SAFETY: `src` holds `n` readable bytes that stay put
                    // until consumed; `off + done + n <= len` of the array
                    // (checked above), whose elements are pinned for the
                    // critical region; ring and Java heap do not overlap.
                    unsafe { copy_bytes(src, elems.add(off + done), n) }
                })
            })
        })
    })
}

/// Reads into a direct ByteBuffer's memory at `[pos, pos + len)`: the one
/// copy is ring to buffer. Returns the count, 0 at EOF, or `RETRY`.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerReadDirect<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    buf: JByteBuffer<'l>,
    pos: jint,
    len: jint,
) -> jint {
    guard(&mut env, -1, |env| {
        let (pos, len) = (pos.max(0) as usize, len.max(0) as usize);
        let addr = env.get_direct_buffer_address(&buf)?;
        let cap = env.get_direct_buffer_capacity(&buf)?;
        check_range(pos, len, cap)?;
        end(h)?.with(|r| {
            if len == 0 {
                return Ok(0);
            }
            read_pieces(env, r, len, |_, done, src, n| {
                // SAFETY: `src` holds `n` readable bytes until consumed;
                // [pos + done, pos + done + n) lies within the direct
                // buffer's memory (checked above), which the Java caller
                // keeps reachable for the duration of this call, and which
                // holds none of the readable bytes (the channel refuses a
                // read-only borrowed view; a reserved view covers free space).
                unsafe { copy_bytes(src, addr.add(pos + done), n) };
                Ok(())
            })
        })
    })
}

/// The zero-copy borrow: a direct ByteBuffer over every readable byte in
/// the ring (capacity 0 at EOF), or null for `RETRY`. `keep_out[0]` gets a
/// keepalive handle that the Java side frees when the buffer is collected.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerBorrow<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    keep_out: JLongArray<'l>,
) -> jobject {
    guard(&mut env, std::ptr::null_mut(), |env| {
        end(h)?.with(|r| {
            let Some((ptr, avail)) = fill(r)? else {
                return Ok(std::ptr::null_mut());
            };
            // A ByteBuffer's capacity is an int; a larger ring is borrowed
            // in parts.
            let len = avail.min(i32::MAX as usize);
            let keep = into_handle(r.keepalive());
            let made = (|| {
                // SAFETY: `ptr` is valid for `len` bytes for as long as the
                // keepalive lives, and the Java side frees it only once the
                // buffer (and every buffer derived from it) is unreachable.
                let bb = unsafe { env.new_direct_byte_buffer(ptr.cast_mut(), len) }?;
                env.set_long_array_region(&keep_out, 0, &[keep])?;
                Ok::<_, Fail>(bb.into_raw())
            })();
            if made.is_err() {
                // SAFETY: `keep` was just made and Java never saw it.
                unsafe { free_handle::<faasin::Keepalive>(keep) };
            }
            made
        })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerRelease(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    n: jint,
) {
    guard(&mut env, (), |_| {
        end(h)?.with(|r| {
            r.release(n.max(0) as usize)
                .map_err(|e| Fail::State(e.to_string()))
        })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerAvailable(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jint {
    guard(&mut env, 0, |_| {
        end(h)?.with(|r| Ok(r.available()?.min(i32::MAX as usize) as jint))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerFd(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jint {
    guard(&mut env, -1, |_| end(h)?.with(|r| Ok(r.as_raw_fd())))
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerIsRing(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jboolean {
    guard(&mut env, 0, |_| {
        end(h)?.with(|r| Ok(r.is_ring() as jboolean))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerCapacity(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jlong {
    guard(&mut env, -1, |_| {
        end(h)?.with(|r| Ok(r.capacity().map_or(-1, |c| c as jlong)))
    })
}

/// Closes the end (the writer sees `BrokenPipe`); a second close is a no-op.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerClose(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        if let Some(r) = end(h)?.take() {
            r.close()?;
        }
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_readerFree(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        // SAFETY: called once, by the Cleaner of the unreachable Java object.
        unsafe { free(h) };
        Ok(())
    })
}

/// Frees an end's handle.
///
/// # Safety
/// As for `free_handle`: `h` is an end handle of this module, used no more.
pub(crate) unsafe fn free(h: jlong) {
    // SAFETY: the caller's contract.
    unsafe { free_handle::<ReaderEnd>(h) }
}
