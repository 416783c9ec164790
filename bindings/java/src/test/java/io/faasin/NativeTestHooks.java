package io.faasin;

import java.util.Objects;

/**
 * Native entry points only the tests call. They are in the library the
 * tests load (built with the cargo feature {@code test-hooks}), not in the
 * jar's.
 */
final class NativeTestHooks {
    static {
        // The hooks live in the library that Native's initializer loads.
        Objects.requireNonNull(Native.CLEANER);
    }

    private NativeTestHooks() {}

    /** Panics in Rust on purpose: the test that panics become exceptions. */
    static native int selfTestPanic();
}
