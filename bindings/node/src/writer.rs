//! The write end as a native class; `index.js` wraps it in a `stream.Writable`.

use crate::end::end_class;
use crate::errors::{byte_count, throw};
use napi::{Env, JsBuffer};
use napi_derive::napi;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

end_class!(
    /// A FAASIN write end in non-blocking mode. Every call returns at once;
    /// `arm` asks for a callback once there is space (or the reader left).
    NativeWriter(faasin::Writer, "writer", "write") {}
);

impl NativeWriter {
    pub fn new(end: faasin::Writer) -> io::Result<NativeWriter> {
        Ok(NativeWriter {
            waiter: None,
            end: Some(Self::prepare(end)?),
            timeout: None,
        })
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
        let n = self.attempt(&env, |end| end.write(data))?;
        Ok(n.map(|n| n as f64))
    }

    /// The zero-copy grant: a Buffer over at least `min` free bytes of the
    /// ring (all free space, in fact), or `null` when fewer are free now
    /// (then `arm`). Fill it, then `commit(k)`. The Buffer keeps the mapping
    /// alive until collected, so a late write into it never faults (it just
    /// scribbles on ring space that is no longer ours).
    #[napi(catch_unwind)]
    pub fn reserve(&mut self, env: Env, min: f64) -> napi::Result<Option<JsBuffer>> {
        let min = byte_count(&env, min, "reserve size")?;
        self.lend(&env, min)
    }

    /// EPIPE if the reader has left; every write is already visible.
    #[napi(catch_unwind)]
    pub fn flush(&mut self, env: Env) -> napi::Result<()> {
        let end = self.end(&env)?;
        end.flush().map_err(|e| throw(&env, e))
    }

    /// Closes the end: the reader gets EOF after every committed byte.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.shut();
    }
}
