//! The read end as a native class; `index.js` wraps it in a `stream.Readable`.

use crate::errors::{byte_count, closed, throw, throw_code};
use crate::slab;
use crate::waiter::Waiter;
use napi::{Env, JsBuffer, JsFunction};
use napi_derive::napi;
use std::io::{self, BufRead, Read};
use std::os::fd::AsRawFd;

/// A FAASIN read end in non-blocking mode. Every call returns at once;
/// `arm` asks for a callback once something can be read.
#[napi]
pub struct NativeReader {
    // Declared before `end` so that it drops first: the waiter polls the
    // end's fd by number, so its thread must stop before the fd closes.
    waiter: Option<Waiter>,
    end: Option<faasin::Reader>,
    /// Keeps the slab pool while this end is open.
    slab_user: Option<slab::User>,
}

impl NativeReader {
    pub fn new(mut end: faasin::Reader) -> io::Result<NativeReader> {
        end.set_nonblocking(true)?;
        // A would-block costs a wake-up of the poll thread and one of the
        // event loop (tens of us each); a short spin first avoids most of
        // them while data streams (README, "How waiting works").
        end.set_nonblocking_spin(true);
        Ok(NativeReader {
            waiter: None,
            end: Some(end),
            slab_user: Some(slab::User::new()),
        })
    }

    fn end(&mut self, env: &Env) -> napi::Result<&mut faasin::Reader> {
        self.end.as_mut().ok_or_else(|| closed(env, "reader"))
    }
}

#[napi]
impl NativeReader {
    /// Copies up to `max` readable bytes into `target` at `offset` (a stream
    /// read into a slab). Returns the count, `null` when nothing is readable
    /// yet (then `arm`), 0 at EOF. `EINVAL` if `offset` leaves no room.
    #[napi(catch_unwind)]
    pub fn read_into(
        &mut self,
        env: Env,
        target: JsBuffer,
        offset: f64,
        max: f64,
    ) -> napi::Result<Option<f64>> {
        let offset = byte_count(&env, offset, "offset")?;
        let max = byte_count(&env, max, "read size")?.max(1);
        let mut target = target.into_value()?;
        let room = target.len().saturating_sub(offset).min(max);
        if room == 0 {
            return Err(throw_code(
                &env,
                "EINVAL",
                &format!(
                    "no room at offset {offset} of a {}-byte buffer (max {max})",
                    target.len()
                ),
            ));
        }
        let end = self.end(&env)?;
        // Core's `read` gives the space back step by step as it copies, so
        // a writer waiting for room refills behind the copy instead of
        // waiting for all of it (only the last step may wake it).
        match end.read(&mut target[offset..offset + room]) {
            Ok(n) => Ok(Some(n as f64)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(throw(&env, e)),
        }
    }

    /// The zero-copy borrow: every readable byte as one Buffer that views the
    /// ring itself. `null` when nothing is readable yet, empty at EOF. The
    /// bytes stay the reader's until `release`; the Buffer keeps the mapping
    /// alive until it is garbage-collected, so using it later reads stale
    /// bytes but never faults.
    #[napi(catch_unwind)]
    pub fn peek(&mut self, env: Env) -> napi::Result<Option<JsBuffer>> {
        let end = self.end(&env)?;
        let keep = end.keepalive();
        let src = match end.fill_buf() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(throw(&env, e)),
        };
        if src.is_empty() {
            return Ok(Some(env.create_buffer(0)?.into_raw()));
        }
        let (ptr, len) = (src.as_ptr().cast_mut(), src.len());
        // SAFETY: ptr/len is the borrowed span inside the mapping (or the
        // fallback heap buffer) that `keep` holds; the finalizer drops `keep`
        // only when V8 frees the Buffer, so the memory outlives every view.
        // The mapping is PROT_READ|PROT_WRITE, so a JS write into the view
        // changes bytes but cannot fault.
        let buf = unsafe {
            env.create_buffer_with_borrowed_data(ptr, len, keep, |keep, _env| drop(keep))
        }?;
        Ok(Some(buf.into_raw()))
    }

    /// Gives `n` peeked bytes back to the writer (`EINVAL` beyond the peek).
    #[napi(catch_unwind)]
    pub fn release(&mut self, env: Env, n: f64) -> napi::Result<()> {
        let n = byte_count(&env, n, "release count")?;
        let end = self.end(&env)?;
        end.release(n).map_err(|e| throw(&env, e))
    }

    /// Bytes readable now without waiting.
    #[napi(catch_unwind)]
    pub fn available(&mut self, env: Env) -> napi::Result<f64> {
        let end = self.end(&env)?;
        end.available()
            .map(|n| n as f64)
            .map_err(|e| throw(&env, e))
    }

    /// After `read`/`peek` returned `null`: calls `callback` once the end is
    /// readable (data, EOF or a dead writer). The first call's callback is
    /// kept for all later waits of this end.
    #[napi(catch_unwind)]
    pub fn arm(&mut self, env: Env, callback: JsFunction) -> napi::Result<()> {
        if self.waiter.is_none() {
            let fd = self.end(&env)?.as_raw_fd();
            // A ring's doorbell and hang-up arrive as readability; a plain
            // fd is readable when data is.
            self.waiter = Some(Waiter::new(&env, &callback, fd, libc::POLLIN)?);
        } else {
            self.end(&env)?;
        }
        if let Some(w) = &self.waiter {
            w.arm(&env);
        }
        Ok(())
    }

    /// Closes the end: the writer gets EPIPE. A second close does nothing.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        if let Some(mut w) = self.waiter.take() {
            w.stop();
        }
        self.end = None;
        self.slab_user = None;
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.end.is_none()
    }

    /// True for a FAASIN ring, false for an ordinary fd read with read(2).
    #[napi(getter)]
    pub fn is_ring(&self) -> bool {
        self.end.as_ref().is_some_and(|e| e.is_ring())
    }

    /// The ring capacity in bytes; `null` for a plain fd or after close.
    #[napi(getter)]
    pub fn capacity(&self) -> Option<f64> {
        self.end.as_ref()?.capacity().map(|c| c as f64)
    }

    /// The fd this end polls (for diagnostics); -1 after close.
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.end.as_ref().map_or(-1, |e| e.as_raw_fd())
    }
}
