//! Warm functions: `faasin.invocations()` (core's `faasin::invocations`).
//!
//! Waiting for the next invocation blocks for as long as the runner takes,
//! so it happens on a thread of its own, one per wait (not the libuv pool,
//! whose four threads `fs` and `dns` need), and ends by settling a promise
//! on the JS thread.

use crate::errors::{code_of, throw_code};
use crate::reader::NativeReader;
use crate::writer::NativeWriter;
use napi::bindgen_prelude::Either;
use napi::{Env, JsBuffer, JsObject};
use napi_derive::napi;
use std::sync::{Arc, Mutex};

/// The invocations this process serves; `next()` gives one at a time.
#[napi]
pub struct NativeInvocations {
    it: Arc<Mutex<faasin::Invocations>>,
}

/// Why waiting for an invocation failed (the promise resolves to this; the
/// JS side throws it as an Error with `code`).
#[napi(object)]
pub struct InvocationError {
    pub message: String,
    pub code: String,
}

/// One invocation: its two ends (taken once each by the JS side), what
/// sends its return value, and its parameters.
#[napi]
pub struct NativeInvocation {
    reader: Option<faasin::Reader>,
    writer: Option<faasin::Writer>,
    done: Option<faasin::Completion>,
    params: Option<String>,
}

impl NativeInvocations {
    pub fn new() -> NativeInvocations {
        NativeInvocations {
            it: Arc::new(Mutex::new(faasin::invocations())),
        }
    }
}

#[napi]
impl NativeInvocations {
    /// A promise of the next invocation, `null` when there are no more, or
    /// an `InvocationError`. Call it again only once it has settled.
    #[napi(catch_unwind)]
    pub fn next(&self, env: Env) -> napi::Result<JsObject> {
        let (deferred, promise) = env.create_deferred()?;
        let it = Arc::clone(&self.it);
        std::thread::Builder::new()
            .name("faasin-invocations".into())
            .spawn(move || {
                let next = it.lock().unwrap_or_else(|p| p.into_inner()).next();
                deferred.resolve(move |_env| {
                    Ok(match next {
                        None => None,
                        Some(Err(e)) => Some(Either::B(InvocationError {
                            message: e.to_string(),
                            code: code_of(&e).to_string(),
                        })),
                        Some(Ok(inv)) => {
                            let (r, w, done) = inv.into_parts();
                            Some(Either::A(NativeInvocation {
                                reader: Some(r),
                                writer: Some(w),
                                params: done.params().map(str::to_owned),
                                done: Some(done),
                            }))
                        }
                    })
                });
            })
            .map_err(|e| throw_code(&env, "EAGAIN", &format!("cannot start a thread: {e}")))?;
        Ok(promise)
    }
}

/// Takes the end in `slot` (once) and makes it a native end with `wrap`.
fn take_once<E, N>(
    env: &Env,
    slot: &mut Option<E>,
    what: &str,
    wrap: impl FnOnce(E) -> std::io::Result<N>,
) -> napi::Result<N> {
    let end = slot.take().ok_or_else(|| {
        throw_code(
            env,
            "EINVAL",
            &format!("the invocation's {what} was taken already"),
        )
    })?;
    wrap(end).map_err(|e| crate::errors::throw(env, e))
}

#[napi]
impl NativeInvocation {
    /// The invocation's parameters (`null`: the runner gave none).
    #[napi(getter)]
    pub fn params(&self) -> Option<String> {
        self.params.clone()
    }

    /// The invocation's read end, once.
    #[napi(catch_unwind)]
    pub fn take_reader(&mut self, env: Env) -> napi::Result<NativeReader> {
        take_once(&env, &mut self.reader, "reader", NativeReader::new)
    }

    /// The invocation's write end, once.
    #[napi(catch_unwind)]
    pub fn take_writer(&mut self, env: Env) -> napi::Result<NativeWriter> {
        take_once(&env, &mut self.writer, "writer", NativeWriter::new)
    }

    /// Sends the return value (a short message on the handoff socket, or
    /// stdout when not warm); the JS side closed both ends first. Once.
    #[napi(catch_unwind)]
    pub fn finish(&mut self, env: Env, value: JsBuffer) -> napi::Result<()> {
        let done = self.done.take().ok_or_else(|| {
            throw_code(
                &env,
                "EINVAL",
                "this invocation was already finished or abandoned",
            )
        })?;
        let value = value.into_value()?;
        done.finish(&value)
            .map_err(|e| crate::errors::throw(&env, e))
    }

    /// Drops the return value unsent: the runner sees the invocation as
    /// broken off. Also what garbage collection does.
    #[napi]
    pub fn abandon(&mut self) {
        self.reader = None;
        self.writer = None;
        self.done = None;
    }
}
