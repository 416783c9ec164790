package io.faasin;

import java.io.IOException;

/**
 * The function's FAASIN streams, the way {@link System#in} and
 * {@link System#out} are its standard ones.
 *
 * <pre>{@code
 * byte[] request = Faasin.in.readAllBytes();      // from the previous function
 * Faasin.out.write(result);                       // to the next one
 * }</pre>
 *
 * <p>The streams are found by the FAASIN conventions: env
 * {@code FAASIN_FD} / {@code FAASOUT_FD}, else fd 3 / 4 if they are FAASIN
 * endpoints, else the handoff socket in {@code FAASIN_SOCKET} (with
 * {@code FAASIN_TOKEN}). They are opened on first use, so loading this class
 * never fails; a function run without a stream gets an {@link IOException}
 * saying how to run it, on its first read or write.
 */
public final class Faasin {
    /** Default ring capacity of {@link #pipe()}: 1 MiB. */
    public static final int DEFAULT_CAPACITY = 1 << 20;

    /** The function's input stream (its faasin). */
    public static final FaasinInputStream in = FaasinInputStream.lazy(() -> Native.readerInput());

    /** The function's output stream (its faasout). */
    public static final FaasinOutputStream out = FaasinOutputStream.lazy(() -> Native.writerOutput());

    private Faasin() {}

    /**
     * A new stream with a ring of {@code capacity} bytes (a power of two,
     * at least 4096).
     *
     * @throws IllegalArgumentException for a bad capacity
     */
    public static FaasinPipe pipe(int capacity) throws IOException {
        return new FaasinPipe(Native.pipeCreate(capacity));
    }

    /** A new stream with the {@linkplain #DEFAULT_CAPACITY default capacity}. */
    public static FaasinPipe pipe() throws IOException {
        return pipe(DEFAULT_CAPACITY);
    }
}
