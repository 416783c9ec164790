package io.faasin;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.ref.Reference;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The invocations a warm function serves, one after another; see
 * {@link Faasin#invocations()}. {@link #hasNext()} waits (as long as the
 * runner takes, not interruptible) for the runner to hand over the next
 * invocation's streams, or to say there are no more.
 */
public final class FaasinInvocations implements Iterable<FaasinInvocation>, Iterator<FaasinInvocation> {
    private final long handle;
    private FaasinInvocation next;
    private boolean ended;

    FaasinInvocations() throws IOException {
        long h = Native.invocationsOpen();
        this.handle = h;
        Native.CLEANER.register(this, () -> Native.invocationsFree(h));
    }

    /** This object itself: iterate it once. */
    @Override
    public Iterator<FaasinInvocation> iterator() {
        return this;
    }

    /**
     * Waits for the next invocation.
     *
     * @throws UncheckedIOException if the runner could not be reached or
     *     handed over something that is not a FAASIN stream
     */
    @Override
    public synchronized boolean hasNext() {
        if (next != null) {
            return true;
        }
        if (ended) {
            return false;
        }
        long[] h = new long[3];
        try {
            if (!Native.invocationsNext(handle, h)) {
                ended = true;
                return false;
            }
        } catch (IOException e) {
            ended = true;
            throw new UncheckedIOException(e);
        } finally {
            Reference.reachabilityFence(this);
        }
        next = new FaasinInvocation(h[0], h[1], h[2]);
        return true;
    }

    @Override
    public synchronized FaasinInvocation next() {
        if (!hasNext()) {
            throw new NoSuchElementException("no more FAASIN invocations");
        }
        FaasinInvocation inv = next;
        next = null;
        return inv;
    }
}
