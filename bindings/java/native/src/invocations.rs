//! `Native.invocations*` and `Native.completion*`: warm functions, one JVM
//! serving many invocations (core's `faasin::invocations`).

use crate::end::{End, Stream};
use crate::guard::{entry, Fail, Result};
use crate::handle::{deref_handle, free_entry, free_handle, into_handle};
use jni::objects::{JByteArray, JLongArray, JString};
use jni::sys::{jboolean, jlong, jstring, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use std::sync::Mutex;

/// The iterator; `next` blocks, so the mutex serializes callers.
type Invocations = Mutex<faasin::Invocations>;
/// What sends one invocation's return value; taken once.
type Completion = Mutex<Option<faasin::Completion>>;

entry! {
    fn Java_io_faasin_Native_invocationsOpen() -> jlong = 0 => |_| {
        Ok(into_handle::<Invocations>(
            Mutex::new(faasin::invocations()),
        ))
    }
}

entry! {
    /// Waits for the next invocation (as long as the runner takes). Puts its
    /// reader, writer and completion handles into `out[0..3]` and returns true,
    /// or returns false when there are no more.
    fn Java_io_faasin_Native_invocationsNext(h: jlong, out: JLongArray<'_>) -> jboolean = JNI_FALSE => |env| {
        if env.get_array_length(&out)? < 3 {
            return Err(Fail::Arg(
                "invocationsNext needs room for three handles".into(),
            ));
        }
        // SAFETY: Java passes the handle of a reachable invocation iterator.
        let it: &Invocations = unsafe { deref_handle(h)? };
        let next = it.lock().unwrap_or_else(|p| p.into_inner()).next();
        match next {
            None => Ok(JNI_FALSE),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(inv)) => {
                let (r, w, done) = inv.into_parts();
                let handles = [
                    End::boxed(Stream::Read(r)),
                    End::boxed(Stream::Write(w)),
                    into_handle::<Completion>(Mutex::new(Some(done))),
                ];
                if let Err(e) = env.set_long_array_region(&out, 0, &handles) {
                    // SAFETY: the three handles were made just above and
                    // reached no Java object.
                    unsafe {
                        free_handle::<End>(handles[0]);
                        free_handle::<End>(handles[1]);
                        free_handle::<Completion>(handles[2]);
                    }
                    return Err(e.into());
                }
                Ok(JNI_TRUE)
            }
        }
    }
}

free_entry!(
    /// Frees the invocation iterator, from its Cleaner.
    Java_io_faasin_Native_invocationsFree,
    Invocations
);

entry! {
    /// Sends the return value (to the warm runner, or stdout when not warm).
    /// The Java side closed both streams first.
    fn Java_io_faasin_Native_completionFinish(h: jlong, value: JByteArray<'_>) -> () = () => |env| {
        // SAFETY: Java passes the handle of a reachable FaasinInvocation.
        let done: &Completion = unsafe { deref_handle(h)? };
        let value = env.convert_byte_array(&value)?;
        let done = done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| Fail::State("this invocation was already finished".into()))?;
        done.finish(&value)?;
        Ok(())
    }
}

entry! {
    /// The invocation's parameters, or null if it has none. Read before
    /// `completionFinish`, which sends the completion off with them.
    fn Java_io_faasin_Native_completionParams(h: jlong) -> jstring = std::ptr::null_mut() => |env| {
        // SAFETY: Java passes the handle of a reachable FaasinInvocation.
        let done: &Completion = unsafe { deref_handle(h)? };
        let params = done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|c| c.params().map(str::to_owned));
        java_string(env, params)
    }
}

entry! {
    /// A one-shot function's parameters (env FAASIN_PARAMS), or null.
    fn Java_io_faasin_Native_params() -> jstring = std::ptr::null_mut() => |env| {
        java_string(env, faasin::params())
    }
}

/// `s` as a Java string, or null.
fn java_string(env: &mut JNIEnv<'_>, s: Option<String>) -> Result<jstring> {
    Ok(match s {
        Some(s) => env.new_string(s)?.into_raw(),
        None => std::ptr::null_mut(),
    })
}

free_entry!(
    /// Drops the completion: an invocation never finished is reported to a
    /// warm runner as broken off.
    Java_io_faasin_Native_completionFree,
    Completion
);

entry! {
    /// The streams of a Lambda invocation, by its request id
    /// (`faasin::streams_of`): puts its reader and writer handles into
    /// `out[0..2]`.
    fn Java_io_faasin_Native_streamsOf(request_id: JString<'_>, out: JLongArray<'_>) -> () = () => |env| {
        if env.get_array_length(&out)? < 2 {
            return Err(Fail::Arg("streamsOf needs room for two handles".into()));
        }
        let id: String = env.get_string(&request_id)?.into();
        let (r, w) = faasin::streams_of(&id)?;
        let handles = [End::boxed(Stream::Read(r)), End::boxed(Stream::Write(w))];
        if let Err(e) = env.set_long_array_region(&out, 0, &handles) {
            // SAFETY: the two handles were made just above and reached no
            // Java object.
            unsafe {
                free_handle::<End>(handles[0]);
                free_handle::<End>(handles[1]);
            }
            return Err(e.into());
        }
        Ok(())
    }
}
