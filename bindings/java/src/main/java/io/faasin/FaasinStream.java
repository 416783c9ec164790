package io.faasin;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;

/**
 * What both ends of a FAASIN stream have: {@link FaasinInputStream} and
 * {@link FaasinOutputStream}.
 */
public sealed interface FaasinStream extends Closeable permits FaasinInputStream, FaasinOutputStream {
    /**
     * The fd to poll. For a ring it is the endpoint socket, which polls
     * readable when data arrives (input), space frees (output) or the peer
     * leaves; for the plain-fd fallback it is the fd itself.
     */
    default int fd() throws IOException {
        return NativeEnd.of(this).call(Native::endFd);
    }

    /** True for a shared-memory ring, false for the plain-fd fallback. */
    default boolean isRing() throws IOException {
        return NativeEnd.of(this).call(Native::endIsRing);
    }

    /** The ring capacity in bytes, or -1 for the plain-fd fallback. */
    default long capacity() throws IOException {
        return NativeEnd.of(this).call(Native::endCapacity);
    }

    /**
     * A blocking read or write (or borrow, reserve) that waits longer than
     * {@code timeout} for data or space fails with
     * {@link java.net.SocketTimeoutException}, as a socket's read does
     * after {@link java.net.Socket#setSoTimeout}; the stream stays usable.
     * For a write its {@code bytesTransferred} says how much was written.
     * {@code null}, the default, waits forever. Applies to the ring and
     * the plain-fd fallback alike.
     *
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    default void setTimeout(Duration timeout) throws IOException {
        NativeEnd.of(this).setTimeout(timeout);
    }
}
