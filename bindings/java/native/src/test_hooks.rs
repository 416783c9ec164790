//! Entry points only the tests call (`io.faasin.NativeTestHooks`, in
//! src/test): built with the `test-hooks` feature, which the Maven test
//! phase turns on and the jar's library leaves off.

use crate::guard::entry;
use jni::sys::jint;

entry! {
    /// Panics on purpose, so tests can check that a panic becomes a Java
    /// exception rather than an aborted JVM.
    fn Java_io_faasin_NativeTestHooks_selfTestPanic() -> jint = -1 => |_| {
        panic!("self-test panic requested by NativeTestHooks.selfTestPanic")
    }
}
