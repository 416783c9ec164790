//! The one place where Rust failures become Java exceptions.
//!
//! Every `extern "system"` entry point runs its body through [`guard`]: a
//! Rust error is thrown as the Java exception that fits, and a panic is
//! caught before it can unwind into the JVM (which would abort it) and
//! thrown as `io.faasin.FaasinPanicException`.

use jni::JNIEnv;
use std::any::Any;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a native call failed, in terms of the Java exception it becomes.
pub(crate) enum Fail {
    /// An I/O error from core, mapped by its kind (see [`io_exception`]).
    Io(io::Error),
    /// Misuse of an object in its current state: `IllegalStateException`.
    State(String),
    /// A bad argument: `IllegalArgumentException`.
    Arg(String),
    /// The end was closed: `IOException("... closed")`.
    Closed(&'static str),
    /// A JNI call failed; a Java exception is usually pending already.
    Jni(jni::errors::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

impl From<jni::errors::Error> for Fail {
    fn from(e: jni::errors::Error) -> Fail {
        Fail::Jni(e)
    }
}

impl Fail {
    /// `e`, or for `InvalidInput` (a wrong argument or call from Java) the
    /// Java exception `as_misuse` makes of its message.
    pub(crate) fn invalid_input_as(e: io::Error, as_misuse: fn(String) -> Fail) -> Fail {
        if e.kind() == io::ErrorKind::InvalidInput {
            as_misuse(e.to_string())
        } else {
            Fail::Io(e)
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, Fail>;

/// Defines a JNI entry point of `io.faasin.Native` (`$name` is its JNI name)
/// whose body runs inside [`guard`]: `$on_error` is what it returns when
/// the body fails, which the JVM ignores since an exception is then pending.
///
/// ```ignore
/// entry! {
///     /// What it does.
///     fn Java_io_faasin_Native_endFd(h: jlong) -> jint = -1 => |_env| { ... }
/// }
/// ```
macro_rules! entry {
    ($(#[$doc:meta])*
     fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $on_error:expr
     => |$env:pat_param| $body:block) => {
        $(#[$doc])*
        #[no_mangle]
        pub extern "system" fn $name<'l>(
            mut env: jni::JNIEnv<'l>,
            _class: jni::objects::JClass<'l>,
            $($arg: $ty),*
        ) -> $ret {
            $crate::guard::guard(&mut env, $on_error, |$env| $body)
        }
    };
}
pub(crate) use entry;

/// Runs `body`, turning its error or panic into a pending Java exception, in
/// which case `on_error` is returned (the JVM ignores it once it sees the
/// exception).
pub(crate) fn guard<'l, R>(
    env: &mut JNIEnv<'l>,
    on_error: R,
    body: impl FnOnce(&mut JNIEnv<'l>) -> Result<R>,
) -> R {
    match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            throw(env, fail);
            on_error
        }
        Err(panic) => {
            let msg = format!(
                "FAASIN native code panicked: {}; please report this as a bug",
                panic_message(&*panic)
            );
            throw_class(env, "io/faasin/FaasinPanicException", &msg);
            on_error
        }
    }
}

fn panic_message(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

fn throw(env: &mut JNIEnv<'_>, fail: Fail) {
    match fail {
        Fail::Io(e) => {
            let (class, msg) = io_exception(&e);
            throw_class(env, class, &msg);
        }
        Fail::State(m) => throw_class(env, "java/lang/IllegalStateException", &m),
        Fail::Arg(m) => throw_class(env, "java/lang/IllegalArgumentException", &m),
        Fail::Closed(what) => throw_class(env, "java/io/IOException", &format!("{what} closed")),
        Fail::Jni(e) => {
            // A failed JNI call normally left its own exception pending
            // (OutOfMemoryError, ArrayIndexOutOfBoundsException, ...): keep it.
            if !env.exception_check().unwrap_or(true) {
                let class = match e {
                    jni::errors::Error::NullPtr(_) | jni::errors::Error::NullDeref(_) => {
                        "java/lang/NullPointerException"
                    }
                    _ => "java/lang/RuntimeException",
                };
                throw_class(env, class, &format!("FAASIN JNI call failed: {e}"));
            }
        }
    }
}

/// The Java exception class and message for an I/O error from core.
fn io_exception(e: &io::Error) -> (&'static str, String) {
    let text = e.to_string();
    match e.kind() {
        io::ErrorKind::BrokenPipe => {
            // Core says "broken pipe: ..."; Java users grep for "Broken pipe",
            // the words of EPIPE's strerror.
            let rest = text
                .strip_prefix("broken pipe")
                .or_else(|| text.strip_prefix("Broken pipe"))
                .unwrap_or(&text);
            let msg = if rest.is_empty() || rest.starts_with(':') || rest.starts_with(' ') {
                format!("Broken pipe{rest}")
            } else {
                format!("Broken pipe: {rest}")
            };
            ("io/faasin/FaasinBrokenPipeException", msg)
        }
        io::ErrorKind::InvalidData => ("io/faasin/FaasinCorruptedRingException", text),
        io::ErrorKind::Interrupted => ("java/io/InterruptedIOException", text),
        io::ErrorKind::TimedOut => ("java/net/SocketTimeoutException", text),
        _ if e.raw_os_error() == Some(libc::EBADF) || e.raw_os_error() == Some(libc::ENOTSOCK) => {
            ("io/faasin/FaasinBadFdException", text)
        }
        io::ErrorKind::InvalidInput => ("io/faasin/FaasinBadFdException", text),
        _ => ("io/faasin/FaasinException", text),
    }
}

fn throw_class(env: &mut JNIEnv<'_>, class: &str, msg: &str) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    // If even this fails (class missing), the JVM has a NoClassDefFoundError
    // pending, which is still an exception rather than a crash.
    let _ = env.throw_new(class, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_message_starts_with_the_strerror_words() {
        let e = io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe: reader left");
        assert_eq!(
            io_exception(&e),
            (
                "io/faasin/FaasinBrokenPipeException",
                "Broken pipe: reader left".to_string()
            )
        );
        let e = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(io_exception(&e).1.starts_with("Broken pipe"));
        let e = io::Error::new(io::ErrorKind::BrokenPipe, "peer died");
        assert_eq!(io_exception(&e).1, "Broken pipe: peer died");
    }

    #[test]
    fn kinds_map_to_their_classes() {
        let e = io::Error::from_raw_os_error(libc::EBADF);
        assert_eq!(io_exception(&e).0, "io/faasin/FaasinBadFdException");
        let e = io::Error::new(io::ErrorKind::InvalidData, "corrupted ring: x");
        assert_eq!(io_exception(&e).0, "io/faasin/FaasinCorruptedRingException");
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_exception(&e).0, "io/faasin/FaasinException");
    }
}
