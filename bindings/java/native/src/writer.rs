//! `Native.writer*`: the write end behind `io.faasin.FaasinOutputStream`.

use crate::array::{checked_range, with_elements};
use crate::copy::copy_bytes;
use crate::guard::{guard, Fail, Result};
use crate::handle::{deref_handle, free_handle, into_handle, End};
use crate::{check_range, is_retry, poll_fd, PIECE, RETRY, WAIT_SLICE};
use faasin::Writer;
use jni::objects::{JByteArray, JByteBuffer, JClass, JLongArray};
use jni::sys::{jboolean, jint, jlong, jobject};
use jni::JNIEnv;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};

type WriterEnd = End<Writer>;

pub(crate) fn open(mut w: Writer) -> jlong {
    w.set_timeout(Some(WAIT_SLICE));
    End::boxed(w, "FAASIN output stream")
}

fn end<'a>(h: jlong) -> Result<&'a WriterEnd> {
    // SAFETY: Java passes the handle of a reachable FaasinOutputStream
    // (handle module docs).
    unsafe { deref_handle(h) }
}

/// For the plain-fd fallback: false when the fd did not become writable
/// within the wait slice (the ring waits by itself, with core's timeout).
fn fallback_ready(w: &Writer) -> bool {
    w.is_ring() || poll_fd(w.as_fd(), libc::POLLOUT, WAIT_SLICE)
}

/// A reservation error: a too large `min` is the caller's mistake.
fn reserve_fail(e: io::Error) -> Fail {
    if e.kind() == io::ErrorKind::InvalidInput {
        Fail::Arg(e.to_string())
    } else {
        Fail::Io(e)
    }
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerOutput(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
) -> jlong {
    guard(&mut env, 0, |_| Ok(open(faasin::output()?)))
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerFromFd(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    fd: jint,
) -> jlong {
    guard(&mut env, 0, |_| {
        Ok(open(Writer::from_fd(crate::dup_fd(fd)?)?))
    })
}

/// Copies `len` bytes into the writer, one piece (at most `PIECE` bytes)
/// at a time, as far as they fit within one wait slice: `take(env, done, dst, n)`
/// copies `n` bytes from the source at offset `done` to `dst`. Returns the
/// count written, or `RETRY` if nothing could be written yet. An error
/// after a partial write is reported by the next call, as with write(2).
fn write_pieces(
    env: &mut JNIEnv<'_>,
    w: &mut Writer,
    len: usize,
    mut take: impl FnMut(&mut JNIEnv<'_>, usize, *mut u8, usize) -> Result<()>,
) -> Result<jint> {
    if !fallback_ready(w) {
        return Ok(RETRY);
    }
    let mut done = 0usize;
    while done < len {
        let span = match w.reserve_slice(1) {
            Ok(s) => s,
            Err(_) if done > 0 => break,
            Err(e) if is_retry(&e) => return Ok(RETRY),
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

/// Copies `arr[off..off + len]` straight into the ring, as far as it fits
/// within one wait slice. Returns the count written, or `RETRY`.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerWrite<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    arr: JByteArray<'l>,
    off: jint,
    len: jint,
) -> jint {
    guard(&mut env, -1, |env| {
        let (off, len) = checked_range(env, &arr, off, len)?;
        end(h)?.with(|w| {
            if len == 0 {
                return Ok(0);
            }
            write_pieces(env, w, len, |env, done, dst, n| {
                with_elements(env, &arr, false, |elems| {
                    // SAFETY: `off + done + n <= len` of the array (checked
                    // above), whose elements are pinned for the critical
                    // region; `dst` is `n` reserved bytes, ours until
                    // committed; ring and Java heap do not overlap.
                    unsafe { copy_bytes(elems.add(off + done), dst, n) }
                })
            })
        })
    })
}

/// Writes from a direct ByteBuffer's memory at `[pos, pos + len)`: the one
/// copy is buffer to ring. Returns the count, or `RETRY`.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerWriteDirect<'l>(
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
        end(h)?.with(|w| {
            if len == 0 {
                return Ok(0);
            }
            if !w.is_ring() {
                return write_fd(w, addr, pos, len);
            }
            write_pieces(env, w, len, |_, done, dst, n| {
                // SAFETY: [pos + done, pos + done + n) lies within the
                // direct buffer's memory (checked above), kept reachable by
                // the Java caller; `dst` is `n` reserved bytes, ours until
                // committed, and not in the buffer (a borrowed view of this
                // ring covers only unread bytes, never free space).
                unsafe { copy_bytes(addr.add(pos + done), dst, n) };
                Ok(())
            })
        })
    })
}

/// The plain-fd fallback of `writerWriteDirect`: straight write(2)s from
/// the buffer, no staging copy.
fn write_fd(w: &mut Writer, addr: *mut u8, pos: usize, len: usize) -> Result<jint> {
    if !fallback_ready(w) {
        return Ok(RETRY);
    }
    // SAFETY: [pos, pos + len) lies within the direct buffer's memory
    // (checked by the caller), kept reachable by the Java caller.
    let src = unsafe { std::slice::from_raw_parts(addr.add(pos), len) };
    let mut done = 0usize;
    while done < len {
        let end = (done + PIECE).min(len);
        match w.write(&src[done..end]) {
            Ok(n) => done += n,
            Err(e) if done == 0 && is_retry(&e) => return Ok(RETRY),
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done as jint)
}

/// The zero-copy reservation: a direct ByteBuffer over at least `min` free
/// bytes of the ring (all free space, up to an int), or null for `RETRY`.
/// `keep_out[0]` gets a keepalive handle, freed by the buffer's Cleaner.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerReserve<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    min: jint,
    keep_out: JLongArray<'l>,
) -> jobject {
    guard(&mut env, std::ptr::null_mut(), |env| {
        end(h)?.with(|w| {
            if !fallback_ready(w) {
                return Ok(std::ptr::null_mut());
            }
            let (ptr, len) = match w.reserve_slice(min.max(0) as usize) {
                Ok(s) => (s.as_mut_ptr(), s.len().min(i32::MAX as usize)),
                Err(e) if is_retry(&e) => return Ok(std::ptr::null_mut()),
                Err(e) => return Err(reserve_fail(e)),
            };
            // Taken after reserving: the fallback may have grown its buffer.
            let keep = into_handle(w.keepalive());
            let made = (|| {
                // SAFETY: `ptr` is valid for `len` bytes while the keepalive
                // lives; Java frees it only once the buffer and everything
                // derived from it are unreachable.
                let bb = unsafe { env.new_direct_byte_buffer(ptr, len) }?;
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
pub extern "system" fn Java_io_faasin_Native_writerCommit(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    n: jint,
) {
    guard(&mut env, (), |_| {
        end(h)?.with(|w| {
            w.commit(n.max(0) as usize).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidInput {
                    Fail::State(e.to_string())
                } else {
                    Fail::Io(e)
                }
            })
        })
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerFlush(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| end(h)?.with(|w| Ok(w.flush()?)))
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerFd(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jint {
    guard(&mut env, -1, |_| end(h)?.with(|w| Ok(w.as_raw_fd())))
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerIsRing(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jboolean {
    guard(&mut env, 0, |_| {
        end(h)?.with(|w| Ok(w.is_ring() as jboolean))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerCapacity(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jlong {
    guard(&mut env, -1, |_| {
        end(h)?.with(|w| Ok(w.capacity().map_or(-1, |c| c as jlong)))
    })
}

/// Closes the end (the reader gets EOF after every committed byte); a second
/// close is a no-op.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerClose(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    guard(&mut env, (), |_| {
        if let Some(w) = end(h)?.take() {
            w.close()?;
        }
        Ok(())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_writerFree(
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
    unsafe { free_handle::<WriterEnd>(h) }
}
