package io.faasin;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;

/**
 * One invocation of a warm function (see {@link Faasin#invocations()}): its
 * input and output streams, its {@linkplain #params() parameters}, and
 * {@link #finish} for its return value.
 *
 * <p>An invocation closed without {@code finish} (or never closed, once it is
 * garbage) is reported to the runner as broken off, as if the function had
 * died during it.
 */
public final class FaasinInvocation implements AutoCloseable {
    private final FaasinInputStream in;
    private final FaasinOutputStream out;
    private final long completion;
    private final Cleaner.Cleanable cleanable;
    private final String params;
    private boolean done;

    FaasinInvocation(long reader, long writer, long completion) {
        this.in = new FaasinInputStream(reader, null);
        this.out = new FaasinOutputStream(writer, null);
        this.completion = completion;
        this.cleanable = Native.CLEANER.register(this, () -> Native.completionFree(completion));
        this.params = Native.completionParams(completion);
    }

    /**
     * This invocation's parameters as the runner gave them (JSON by
     * convention), or null if there are none. Not started warm, they are
     * {@link Faasin#params()}.
     */
    public String params() {
        return params;
    }

    /** This invocation's input (from the previous function, or the chain's input). */
    public FaasinInputStream in() {
        return in;
    }

    /** This invocation's output (to the next function, or the chain's output). */
    public FaasinOutputStream out() {
        return out;
    }

    /**
     * Ends the invocation: closes both streams (the next function sees end of
     * stream after every byte written), then sends {@code value} as the
     * return value: to the warm runner, or to standard output when the
     * function was not started warm.
     *
     * @throws IllegalStateException if the invocation was already finished or closed
     */
    public synchronized void finish(byte[] value) throws IOException {
        if (done) {
            throw new IllegalStateException("this FAASIN invocation was already finished or closed");
        }
        done = true;
        try {
            in.close();
            out.close();
            Native.completionFinish(completion, value);
        } finally {
            Reference.reachabilityFence(this);
            cleanable.clean();
        }
    }

    /** {@link #finish(byte[])} with the UTF-8 bytes of {@code value} (for JSON). */
    public void finish(String value) throws IOException {
        finish(value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Closes both streams; an invocation not finished is thereby reported to
     * the runner as broken off. Nothing happens after {@code finish}.
     */
    @Override
    public synchronized void close() throws IOException {
        if (done) {
            return;
        }
        done = true;
        try {
            in.close();
            out.close();
        } finally {
            cleanable.clean();
        }
    }
}
