//! What `NativeReader` and `NativeWriter` share: a core end in non-blocking
//! mode, its waiter, and the timeout of its waits ([`end_class!`]).

use napi::{Env, JsBuffer};
use std::io::{self, BufRead};
use std::time::Duration;

/// Ring (or fallback) memory to lend as a Buffer, and what keeps it.
pub(crate) type Span = (*mut u8, usize, faasin::Keepalive);

/// What differs between the two kinds of end for the code they share.
///
/// # Safety
/// `lendable` returns a span that is valid for reading and writing while
/// the keepalive it returns lives.
pub(crate) unsafe trait Side {
    /// What a waiter polls the end's fd for.
    fn ready_events(&self) -> i16;
    /// The bytes the zero-copy call lends: readable bytes (a reader; `min`
    /// is unused), or at least `min` free bytes (a writer).
    fn lendable(&mut self, min: usize) -> io::Result<Span>;
    /// Ends the lent view: releases its first `n` bytes to the writer (a
    /// reader), or publishes them (a writer).
    fn end_view(&mut self, n: usize) -> io::Result<()>;
}

// SAFETY: the readable span lies in the mapping (or fallback buffer) that
// the reader's keepalive holds, which is PROT_READ|PROT_WRITE: a JS write
// into the view changes bytes but cannot fault.
unsafe impl Side for faasin::Reader {
    fn ready_events(&self) -> i16 {
        // A ring's doorbell and hang-up arrive as readability; a plain fd is
        // readable when data is.
        libc::POLLIN
    }

    fn lendable(&mut self, _min: usize) -> io::Result<Span> {
        let keep = self.keepalive();
        let src = self.fill_buf()?;
        Ok((src.as_ptr().cast_mut(), src.len(), keep))
    }

    fn end_view(&mut self, n: usize) -> io::Result<()> {
        self.release(n)
    }
}

// SAFETY: the reserved span lies in the memory the writer's keepalive holds,
// taken after reserving since the fallback may swap its buffer to reserve.
unsafe impl Side for faasin::Writer {
    fn ready_events(&self) -> i16 {
        // A ring's space doorbell arrives as READABILITY of the endpoint
        // socket (which is always writable); a plain fd polls POLLOUT.
        if self.is_ring() {
            libc::POLLIN
        } else {
            libc::POLLOUT
        }
    }

    fn lendable(&mut self, min: usize) -> io::Result<Span> {
        let s = self.reserve_slice(min)?;
        let (ptr, len) = (s.as_mut_ptr(), s.len());
        Ok((ptr, len, self.keepalive()))
    }

    fn end_view(&mut self, n: usize) -> io::Result<()> {
        self.commit(n)
    }
}

/// The timeout of `setTimeout(ms)`: `null` waits forever; anything but a
/// positive number of milliseconds is refused.
pub(crate) fn timeout(ms: Option<f64>) -> Result<Option<Duration>, String> {
    match ms {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e15 => {
            Ok(Some(Duration::from_secs_f64(ms / 1000.0)))
        }
        Some(ms) => Err(format!(
            "a timeout must be a positive number of milliseconds (null waits forever), got {ms}"
        )),
    }
}

/// A Buffer over `len` bytes at `ptr`, ring (or fallback) memory that
/// `keep` holds: the finalizer drops `keep` only when V8 frees the Buffer,
/// so the memory outlives every view of it, and a late use of the view
/// reads or scribbles on stale bytes but never faults.
///
/// # Safety
/// `ptr` is valid for reading and writing `len` bytes while `keep` lives.
pub(crate) unsafe fn lend(
    env: &Env,
    ptr: *mut u8,
    len: usize,
    keep: faasin::Keepalive,
) -> napi::Result<JsBuffer> {
    if len == 0 {
        return Ok(env.create_buffer(0)?.into_raw());
    }
    // SAFETY: the caller's contract, and `keep` moves into the finalizer.
    let buf =
        unsafe { env.create_buffer_with_borrowed_data(ptr, len, keep, |keep, _env| drop(keep)) }?;
    Ok(buf.into_raw())
}

/// Core's error for a wait that ran out, as a blocking call gives it.
pub(crate) fn timed_out(op: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("FAASIN {op} timed out"))
}

/// Defines `$class`, the napi class of a core end `$end` in non-blocking
/// mode, with what both kinds have: `arm`, `setTimeout`, the getters, and
/// `attempt`, which runs an operation and says when it would block. `$what`
/// names the end in errors, `$op` its operation; further fields follow.
/// The caller imports `napi::Env` (napi-derive knows the `Env` argument by
/// that name).
macro_rules! end_class {
    ($(#[$doc:meta])* $class:ident($end:ty, $what:literal, $op:literal) {
        $($(#[$fdoc:meta])* $field:ident: $fty:ty,)*
    }) => {
        $(#[$doc])*
        #[napi]
        pub struct $class {
            // Declared before `end` so that it drops first: the waiter polls
            // the end's fd by number, so its thread must stop before the fd
            // closes.
            waiter: Option<$crate::waiter::Waiter>,
            end: Option<$end>,
            /// How long a wait may last before the operation after it fails
            /// with ETIMEDOUT; `None` waits forever.
            timeout: Option<std::time::Duration>,
            $($(#[$fdoc])* $field: $fty,)*
        }

        impl $class {
            /// Switches `end` to non-blocking mode for this class.
            fn prepare(mut end: $end) -> std::io::Result<$end> {
                end.set_nonblocking(true)?;
                // A would-block costs a wake-up of the poll thread and one of
                // the event loop; a short spin first avoids most of them while
                // data streams (README, "How waiting works").
                end.set_nonblocking_spin(true);
                Ok(end)
            }

            fn end(&mut self, env: &napi::Env) -> napi::Result<&mut $end> {
                self.end
                    .as_mut()
                    .ok_or_else(|| $crate::errors::closed(env, $what))
            }

            /// Runs a non-blocking operation: `Ok(None)` when it would block
            /// (then `arm`), or ETIMEDOUT when it still would after a wait
            /// that ran out of time.
            fn attempt<T>(
                &mut self,
                env: &napi::Env,
                op: impl FnOnce(&mut $end) -> std::io::Result<T>,
            ) -> napi::Result<Option<T>> {
                let ran_out = self
                    .waiter
                    .as_ref()
                    .is_some_and($crate::waiter::Waiter::take_timed_out);
                match op(self.end(env)?) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if ran_out {
                            Err($crate::errors::throw(env, $crate::end::timed_out($op)))
                        } else {
                            Ok(None)
                        }
                    }
                    Err(e) => Err($crate::errors::throw(env, e)),
                }
            }

            /// The zero-copy call: what the end lends (see `Side::lendable`)
            /// as a Buffer, `None` when it would block.
            fn lend(
                &mut self,
                env: &napi::Env,
                min: usize,
            ) -> napi::Result<Option<napi::JsBuffer>> {
                use $crate::end::Side;
                let span = self.attempt(env, |end| end.lendable(min))?;
                // SAFETY: `Side::lendable` returns a span valid while its
                // keepalive lives.
                span.map(|(ptr, len, keep)| unsafe { $crate::end::lend(env, ptr, len, keep) })
                    .transpose()
            }

            /// Stops the waiter, then closes the end.
            fn shut(&mut self) {
                if let Some(mut w) = self.waiter.take() {
                    w.stop();
                }
                self.end = None;
            }
        }

        #[napi]
        impl $class {
            /// After an operation returned `null`: calls `callback` once the
            /// end is ready (data, EOF or space, or a peer gone), or once the
            /// timeout ran out. The first call's callback is kept for all
            /// later waits of this end.
            #[napi(catch_unwind)]
            pub fn arm(&mut self, env: Env, callback: napi::JsFunction) -> napi::Result<()> {
                use $crate::end::Side;
                let end = self.end(&env)?;
                let (fd, events) = (end.as_raw_fd(), end.ready_events());
                if self.waiter.is_none() {
                    self.waiter = Some($crate::waiter::Waiter::new(&env, &callback, fd, events)?);
                }
                if let Some(w) = &self.waiter {
                    w.arm(&env, self.timeout);
                }
                Ok(())
            }

            /// Ends the lent view (`release(n)` of a reader, `commit(n)` of a
            /// writer); EINVAL beyond the view, or after a write replaced a
            /// reservation.
            #[napi(catch_unwind)]
            pub fn end_view(&mut self, env: Env, n: f64) -> napi::Result<()> {
                use $crate::end::Side;
                let n = $crate::errors::byte_count(&env, n, "view byte count")?;
                self.end(&env)?
                    .end_view(n)
                    .map_err(|e| $crate::errors::throw(&env, e))
            }

            /// Waits longer than `ms` make the operation after them fail
            /// with ETIMEDOUT; `null` waits forever.
            #[napi(catch_unwind)]
            pub fn set_timeout(&mut self, env: Env, ms: Option<f64>) -> napi::Result<()> {
                self.end(&env)?;
                self.timeout = $crate::end::timeout(ms)
                    .map_err(|m| $crate::errors::throw_code(&env, "EINVAL", &m))?;
                Ok(())
            }

            #[napi(getter)]
            pub fn closed(&self) -> bool {
                self.end.is_none()
            }

            /// True for a FAASIN ring, false for an ordinary fd.
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
    };
}
pub(crate) use end_class;
