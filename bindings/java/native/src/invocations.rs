//! `Native.invocations*` and `Native.completion*`: warm functions, one JVM
//! serving many invocations (core's `faasin::invocations`).

use crate::guard::{guard, Fail};
use crate::handle::{deref_handle, free_handle, into_handle};
use crate::{reader, writer};
use jni::objects::{JByteArray, JClass, JLongArray};
use jni::sys::{jboolean, jlong, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use std::sync::Mutex;

/// The iterator; `next` blocks, so the mutex serializes callers.
type Invocations = Mutex<faasin::Invocations>;
/// What sends one invocation's return value; taken once.
type Completion = Mutex<Option<faasin::Completion>>;

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_invocationsOpen(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
) -> jlong {
    guard(&mut env, 0, |_| {
        Ok(into_handle::<Invocations>(
            Mutex::new(faasin::invocations()),
        ))
    })
}

/// Waits for the next invocation (as long as the runner takes). Puts its
/// reader, writer and completion handles into `out[0..3]` and returns true,
/// or returns false when there are no more.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_invocationsNext<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    out: JLongArray<'l>,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |env| {
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
                    reader::open(r),
                    writer::open(w),
                    into_handle::<Completion>(Mutex::new(Some(done))),
                ];
                if let Err(e) = env.set_long_array_region(&out, 0, &handles) {
                    // SAFETY: the three handles were made just above and
                    // reached no Java object.
                    unsafe {
                        reader::free(handles[0]);
                        writer::free(handles[1]);
                        free_handle::<Completion>(handles[2]);
                    }
                    return Err(e.into());
                }
                Ok(JNI_TRUE)
            }
        }
    })
}

#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_invocationsFree(
    _env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    // SAFETY: called once, by the Cleaner, after the last use.
    unsafe { free_handle::<Invocations>(h) }
}

/// Sends the return value (to the warm runner, or stdout when not warm).
/// The Java side closed both streams first.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_completionFinish<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    value: JByteArray<'l>,
) {
    guard(&mut env, (), |env| {
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
    })
}

/// Drops the completion: an invocation never finished is reported to a warm
/// runner as broken off.
#[no_mangle]
pub extern "system" fn Java_io_faasin_Native_completionFree(
    _env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) {
    // SAFETY: called once, by the Cleaner or `abandon`, after the last use.
    unsafe { free_handle::<Completion>(h) }
}
