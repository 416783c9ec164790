package io.faasin;

import java.io.IOException;

/**
 * The input and output streams of one invocation of a Lambda handler (see
 * {@link Faasin#streamsOf}). Closing it closes both: the next function then
 * sees end of stream after every byte written.
 */
public final class FaasinStreams implements AutoCloseable {
    private final FaasinInputStream in;
    private final FaasinOutputStream out;

    FaasinStreams(FaasinInputStream in, FaasinOutputStream out) {
        this.in = in;
        this.out = out;
    }

    /** The invocation's input (from the previous function, or the request body). */
    public FaasinInputStream in() {
        return in;
    }

    /** The invocation's output (to the next function, or the response body). */
    public FaasinOutputStream out() {
        return out;
    }

    @Override
    public void close() throws IOException {
        try {
            out.close();
        } finally {
            in.close();
        }
    }
}
