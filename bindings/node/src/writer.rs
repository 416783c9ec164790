//! The write end as a native class; `index.js` wraps it in a `stream.Writable`.

use crate::errors::{byte_count, closed, throw};
use crate::waiter::Waiter;
use napi::{Env, JsBuffer, JsFunction};
use napi_derive::napi;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// A FAASIN write end in non-blocking mode. Every call returns at once;
/// `arm` asks for a callback once there is space (or the reader left).
#[napi]
pub struct NativeWriter {
    // Before `end`: the waiter's thread polls the end's fd, so it stops first.
    waiter: Option<Waiter>,
    end: Option<faasin::Writer>,
}

impl NativeWriter {
    pub fn new(mut end: faasin::Writer) -> io::Result<NativeWriter> {
        end.set_nonblocking(true)?;
        // A would-block costs a wake-up of the poll thread and one of the
        // event loop (tens of us each); a short spin first avoids most of
        // them while data streams (README, "How waiting works").
        end.set_nonblocking_spin(true);
        Ok(NativeWriter {
            waiter: None,
            end: Some(end),
        })
    }

    fn end(&mut self, env: &Env) -> napi::Result<&mut faasin::Writer> {
        self.end.as_mut().ok_or_else(|| closed(env, "writer"))
    }
}

#[napi]
impl NativeWriter {
    /// Writes as much of `data` as fits now, straight from the JS buffer's
    /// memory (no intermediate copy). Returns the count written (1..), or
    /// `null` when nothing fits (then `arm`). EPIPE once the reader left.
    #[napi(catch_unwind)]
    pub fn write(&mut self, env: Env, data: &[u8]) -> napi::Result<Option<f64>> {
        if data.is_empty() {
            return Ok(Some(0.0));
        }
        let end = self.end(&env)?;
        match end.write(data) {
            Ok(n) => Ok(Some(n as f64)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(throw(&env, e)),
        }
    }

    /// The zero-copy grant: a Buffer over at least `min` free bytes of the
    /// ring (all free space, in fact), or `null` when fewer are free now
    /// (then `arm`). Fill it, then `commit(k)`. The Buffer keeps the mapping
    /// alive until collected, so a late write into it never faults (it just
    /// scribbles on ring space that is no longer ours).
    #[napi(catch_unwind)]
    pub fn reserve(&mut self, env: Env, min: f64) -> napi::Result<Option<JsBuffer>> {
        let min = byte_count(&env, min, "reserve size")?;
        let end = self.end(&env)?;
        let (ptr, len) = match end.reserve_slice(min) {
            Ok(s) => (s.as_mut_ptr(), s.len()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(throw(&env, e)),
        };
        if len == 0 {
            return Ok(Some(env.create_buffer(0)?.into_raw()));
        }
        // Taken after reserve_slice: the fallback path may swap its buffer.
        let keep = end.keepalive();
        // SAFETY: ptr/len is the reserved span inside the memory `keep`
        // holds; the finalizer drops `keep` only when V8 frees the Buffer.
        let buf = unsafe {
            env.create_buffer_with_borrowed_data(ptr, len, keep, |keep, _env| drop(keep))
        }?;
        Ok(Some(buf.into_raw()))
    }

    /// Publishes the first `n` bytes of the last `reserve` (`EINVAL` if more
    /// than were reserved, or after a write replaced the reservation).
    #[napi(catch_unwind)]
    pub fn commit(&mut self, env: Env, n: f64) -> napi::Result<()> {
        let n = byte_count(&env, n, "commit count")?;
        let end = self.end(&env)?;
        end.commit(n).map_err(|e| throw(&env, e))
    }

    /// EPIPE if the reader has left; every write is already visible.
    #[napi(catch_unwind)]
    pub fn flush(&mut self, env: Env) -> napi::Result<()> {
        let end = self.end(&env)?;
        end.flush().map_err(|e| throw(&env, e))
    }

    /// After `write`/`reserve` returned `null`: calls `callback` once there
    /// is space or the reader is gone. The first call's callback is kept.
    #[napi(catch_unwind)]
    pub fn arm(&mut self, env: Env, callback: JsFunction) -> napi::Result<()> {
        if self.waiter.is_none() {
            let end = self.end(&env)?;
            // A ring's space doorbell arrives as READABILITY of the endpoint
            // socket (which is always writable); a plain fd polls POLLOUT.
            let events = if end.is_ring() {
                libc::POLLIN
            } else {
                libc::POLLOUT
            };
            let fd = end.as_raw_fd();
            self.waiter = Some(Waiter::new(&env, &callback, fd, events)?);
        } else {
            self.end(&env)?;
        }
        if let Some(w) = &self.waiter {
            w.arm(&env);
        }
        Ok(())
    }

    /// Closes the end: the reader gets EOF after every committed byte.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        if let Some(mut w) = self.waiter.take() {
            w.stop();
        }
        self.end = None;
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.end.is_none()
    }

    #[napi(getter)]
    pub fn is_ring(&self) -> bool {
        self.end.as_ref().is_some_and(|e| e.is_ring())
    }

    #[napi(getter)]
    pub fn capacity(&self) -> Option<f64> {
        self.end.as_ref()?.capacity().map(|c| c as f64)
    }

    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.end.as_ref().map_or(-1, |e| e.as_raw_fd())
    }
}
