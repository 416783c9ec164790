package io.faasin;

/**
 * The native code hit a bug (a Rust panic). It was stopped at the JNI
 * boundary, so the JVM goes on; the object it happened on may be unusable.
 */
public class FaasinPanicException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FaasinPanicException(String message) {
        super(message);
    }
}
