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
    public static final FaasinInputStream in = new FaasinInputStream(0, () -> Native.endOpen(false));

    /** The function's output stream (its faasout). */
    public static final FaasinOutputStream out = new FaasinOutputStream(0, () -> Native.endOpen(true));

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

    /**
     * The invocations this process serves, for a warm function:
     *
     * <pre>{@code
     * for (FaasinInvocation inv : Faasin.invocations()) {
     *     byte[] request = inv.in().readAllBytes();
     *     inv.out().write(result);
     *     inv.finish("{\"ok\": true}");
     * }
     * }</pre>
     *
     * Started by {@code faasin run --warm N} (env {@code FAASIN_WARM} and
     * {@code FAASIN_SOCKET}), the loop runs once per invocation, each time
     * with fresh streams from the runner. Started any other way, it runs
     * once, on the function's streams ({@link #in}, {@link #out} are then
     * the same ends; use one or the other), and {@code finish} prints the
     * return value on standard output, so one program serves both.
     */
    public static FaasinInvocations invocations() throws IOException {
        return new FaasinInvocations();
    }

    /**
     * A one-shot function's invocation parameters, from env
     * {@code FAASIN_PARAMS} (JSON by convention), or null when it is unset or
     * empty. A warm function gets each invocation's own from
     * {@link FaasinInvocation#params()}.
     */
    public static String params() {
        return Native.params();
    }

    /**
     * The streams of one invocation of a Lambda handler under {@code faasin
     * serve}, by the request id its context carries:
     * {@code Faasin.streamsOf(context.getAwsRequestId())}. Good once per
     * invocation; close them (try-with-resources) before the handler returns,
     * so the next function sees end of stream.
     */
    public static FaasinStreams streamsOf(String requestId) throws IOException {
        long[] handles = new long[2];
        Native.streamsOf(requestId, handles);
        return new FaasinStreams(
                new FaasinInputStream(handles[0], null), new FaasinOutputStream(handles[1], null));
    }

    /** A new stream with the {@linkplain #DEFAULT_CAPACITY default capacity}. */
    public static FaasinPipe pipe() throws IOException {
        return pipe(DEFAULT_CAPACITY);
    }
}
