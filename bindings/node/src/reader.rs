//! The read end as a native class; `index.js` wraps it in a `stream.Readable`.

use crate::end::end_class;
use crate::errors::{byte_count, throw, throw_code};
use crate::slab;
use napi::{Env, JsBuffer};
use napi_derive::napi;
use std::io::{self, Read};
use std::os::fd::AsRawFd;

end_class!(
    /// A FAASIN read end in non-blocking mode. Every call returns at once;
    /// `arm` asks for a callback once something can be read.
    NativeReader(faasin::Reader, "reader", "read") {
        /// Keeps the slab pool while this end is open.
        slab_user: Option<slab::User>,
    }
);

impl NativeReader {
    pub fn new(end: faasin::Reader) -> io::Result<NativeReader> {
        Ok(NativeReader {
            waiter: None,
            end: Some(Self::prepare(end)?),
            timeout: None,
            slab_user: Some(slab::User::new()),
        })
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
        // Core's `read` gives the space back step by step as it copies, so
        // a writer waiting for room refills behind the copy instead of
        // waiting for all of it (only the last step may wake it).
        let n = self.attempt(&env, |end| end.read(&mut target[offset..offset + room]))?;
        Ok(n.map(|n| n as f64))
    }

    /// The zero-copy borrow: every readable byte as one Buffer that views the
    /// ring itself. `null` when nothing is readable yet, empty at EOF. The
    /// bytes stay the reader's until `release`; the Buffer keeps the mapping
    /// alive until it is garbage-collected, so using it later reads stale
    /// bytes but never faults.
    #[napi(catch_unwind)]
    pub fn peek(&mut self, env: Env) -> napi::Result<Option<JsBuffer>> {
        self.lend(&env, 0)
    }

    /// Bytes readable now without waiting.
    #[napi(catch_unwind)]
    pub fn available(&mut self, env: Env) -> napi::Result<f64> {
        let end = self.end(&env)?;
        end.available()
            .map(|n| n as f64)
            .map_err(|e| throw(&env, e))
    }

    /// Closes the end: the writer gets EPIPE. A second close does nothing.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.shut();
        self.slab_user = None;
    }
}
