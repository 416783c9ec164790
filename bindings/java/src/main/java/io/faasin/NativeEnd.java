package io.faasin;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * What {@link FaasinInputStream} and {@link FaasinOutputStream} share: the
 * native handle (opened on first use for {@link Faasin#in} and
 * {@link Faasin#out}, freed by the Cleaner once unreachable), the
 * outstanding zero-copy view, close, and the loop that calls a blocking
 * native method one wait slice at a time.
 */
final class NativeEnd {
    /** Opens the native end on first use. */
    interface Opener {
        long open() throws IOException;
    }

    /**
     * One call of a blocking native method, told how long the operation
     * has waited so far (for the timeout); null when its wait slice ran out.
     */
    interface Attempt<T> {
        T run(long handle, long waitedNanos) throws IOException;
    }

    /** The words that differ between the two ends, for messages. */
    enum Kind {
        INPUT("input stream", "read", "borrow", "borrowed", "release"),
        OUTPUT("output stream", "write", "reserve", "reserved", "commit");

        final String name;
        final String io;
        final String take;
        final String taken;
        final String giveBack;

        Kind(String name, String io, String take, String taken, String giveBack) {
            this.name = name;
            this.io = io;
            this.take = take;
            this.taken = taken;
            this.giveBack = giveBack;
        }
    }

    private final Object lock = new Object();
    private final Kind kind;
    private final Opener opener;
    private volatile long handle;
    private volatile boolean closed;
    /** Capacity of the outstanding view; -1 when there is none. */
    private int view = -1;

    NativeEnd(Kind kind, long handle, Opener opener) {
        this.kind = kind;
        this.handle = handle;
        this.opener = opener;
        if (handle != 0) {
            register(handle);
        }
    }

    static NativeEnd of(FaasinStream s) {
        return s instanceof FaasinInputStream ? ((FaasinInputStream) s).end : ((FaasinOutputStream) s).end;
    }

    private void register(long h) {
        Native.CLEANER.register(this, () -> Native.endFree(h));
    }

    /** The native handle, opening the end first if it is lazy. */
    long handle() throws IOException {
        if (closed) {
            throw new IOException("FAASIN " + kind.name + " closed");
        }
        long h = handle;
        if (h != 0) {
            return h;
        }
        synchronized (lock) {
            if (handle == 0) {
                long opened = opener.open();
                register(opened);
                handle = opened;
            }
            return handle;
        }
    }

    boolean isOpen() {
        return !closed;
    }

    /** Refuses {@code what} while a view is outstanding. */
    void checkNoView(String what) {
        synchronized (lock) {
            refuseView(what);
        }
    }

    private void refuseView(String what) {
        if (view >= 0) {
            throw new IllegalStateException("cannot " + what + ": a " + kind.taken + " view of " + view
                    + " bytes is outstanding; " + kind.giveBack + "(n) it first");
        }
    }

    /**
     * Calls a blocking native method until it answers: each call waits at
     * most one slice, and between calls a thread interrupt or a close by
     * another thread ends the wait. The timeout is core's, applied by the
     * native side. {@code transferred} is what the caller already moved, for
     * {@link InterruptedIOException#bytesTransferred}.
     */
    <T> T blocking(String what, long transferred, Attempt<T> attempt) throws IOException {
        long h = handle();
        checkNoView(what);
        long start = System.nanoTime();
        try {
            for (;;) {
                T result = attempt.run(h, System.nanoTime() - start);
                if (result != null) {
                    return result;
                }
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("FAASIN " + kind.io + " interrupted");
                }
                handle();
            }
        } catch (InterruptedIOException e) {
            // An interrupt, or core's timeout (a SocketTimeoutException).
            e.bytesTransferred = (int) Math.min(transferred, Integer.MAX_VALUE);
            throw e;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Reads into, or writes from, {@code [off, off + len)} of {@code mem}, a
     * {@code byte[]} or a direct {@link ByteBuffer}, as far as one native
     * call gets: the count, 0 at EOF.
     */
    int copy(String what, long transferred, Object mem, int off, int len) throws IOException {
        boolean direct = mem instanceof ByteBuffer;
        try {
            return blocking(what, transferred,
                    (h, waited) -> orRetry(Native.endCopy(h, waited, mem, direct, off, len)));
        } finally {
            Reference.reachabilityFence(mem);
        }
    }

    /** {@code n}, or null for the native "wait slice over" answer. */
    private static Integer orRetry(int n) {
        return n == Native.RETRY ? null : n;
    }

    /**
     * A zero-copy view (borrowed readable bytes, or at least {@code min}
     * reserved free bytes), which stays outstanding until
     * {@link #closeView} unless it is empty.
     */
    ByteBuffer openView(String what, int min) throws IOException {
        long[] keep = new long[1];
        ByteBuffer bb = blocking(what, 0, (h, waited) -> Native.endOpenView(h, waited, min, keep));
        Native.track(bb, keep[0]);
        if (bb.capacity() > 0) {
            synchronized (lock) {
                view = bb.capacity();
            }
        }
        return bb;
    }

    /**
     * Ends the outstanding view, giving back (input) or publishing (output)
     * its first {@code n} bytes.
     */
    void closeView(int n) throws IOException {
        synchronized (lock) {
            if (view < 0) {
                if (n == 0) {
                    return;
                }
                throw new IllegalStateException(
                        kind.giveBack + "(" + n + ") without an outstanding " + kind.take + "()");
            }
            if (n < 0 || n > view) {
                throw new IllegalArgumentException(kind.giveBack + "(" + n + ") of a view of " + view + " bytes");
            }
            try {
                Native.endCloseView(handle, n);
            } finally {
                view = -1;
                Reference.reachabilityFence(this);
            }
        }
    }

    /** A non-blocking native method. */
    interface Call<T> {
        T run(long handle) throws IOException;
    }

    /** Calls {@code call} with the handle, keeping this end reachable across it. */
    <T> T call(Call<T> call) throws IOException {
        try {
            return call.run(handle());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    void setTimeout(Duration timeout) throws IOException {
        if (timeout != null && (timeout.isNegative() || timeout.isZero())) {
            throw new IllegalArgumentException("a timeout must be positive (null waits forever), got " + timeout);
        }
        // In nanoseconds, capped at Long.MAX_VALUE (centuries); 0 waits forever.
        long nanos = timeout == null ? 0
                : timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : timeout.toNanos();
        call(h -> {
            Native.endSetTimeout(h, nanos);
            return null;
        });
    }

    /**
     * Closes the end; a second close does nothing.
     *
     * @throws IllegalStateException while a view is outstanding
     */
    void close() throws IOException {
        synchronized (lock) {
            refuseView("close the FAASIN " + kind.name);
            closed = true;
        }
        long h = handle;
        if (h != 0) {
            try {
                Native.endClose(h);
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }
}
