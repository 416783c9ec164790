package io.faasin;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/**
 * The native methods (bindings/java/native). Handles are pointers to native
 * objects; each is freed only by a Cleaner once its Java owner is
 * unreachable, and every caller keeps its owner reachable across the call.
 * A blocking method returns {@link #RETRY} (or null) after at most 50 ms, so
 * the caller can check for interruption and call again; the timeout set
 * with {@link #endSetTimeout} ends the last of those waits inside core.
 */
final class Native {
    static final int RETRY = -2;

    /** Frees native handles (ends, pipes, keepalives of views). */
    static final Cleaner CLEANER = Cleaner.create();

    static {
        Loader.load();
    }

    private Native() {}

    /** The function's own input ({@code write} false) or output stream. */
    static native long endOpen(boolean write) throws IOException;

    static native long endFromFd(int fd, boolean write) throws IOException;

    static native int endFd(long h) throws IOException;

    static native boolean endIsRing(long h) throws IOException;

    static native long endCapacity(long h) throws IOException;

    /** Sets the timeout of blocking calls; {@code nanos} <= 0 waits forever. */
    static native void endSetTimeout(long h, long nanos) throws IOException;

    static native void endClose(long h) throws IOException;

    static native void endFree(long h);

    // The blocking calls take how long the Java call has waited so far, for
    // the timeout, and return RETRY (or null) when their wait slice ran out.
    // Each serves both ends, in the end's direction.

    /**
     * Reads into, or writes from, {@code [off, off + len)} of {@code mem}: a
     * {@code byte[]}, or ({@code direct}) a direct ByteBuffer. The count, 0
     * at EOF.
     */
    static native int endCopy(long h, long waited, Object mem, boolean direct, int off, int len)
            throws IOException;

    /** A borrowed view of the readable bytes, or a reserved one of at least {@code min} free bytes. */
    static native ByteBuffer endOpenView(long h, long waited, int min, long[] keepOut) throws IOException;

    /** Releases (input) or commits (output) the first {@code n} bytes of the view, ending it. */
    static native void endCloseView(long h, int n) throws IOException;

    static native int readerAvailable(long h) throws IOException;

    static native void writerFlush(long h) throws IOException;

    static native void keepaliveFree(long keep);

    static native long pipeCreate(int capacity) throws IOException;

    static native int pipeFd(long h, boolean write);

    /** Opens the read ({@code write} false) or write end of a pipe here. */
    static native long pipeOpen(long h, boolean write) throws IOException;

    static native void pipeClose(long h);

    static native void pipeFree(long h);

    static native long handoffListen(String path) throws IOException;

    static native long handoffAccept(long h, int requestMillis) throws IOException;

    static native String handoffToken(long conn);

    static native void handoffGrant(long conn, long inputPipe, long outputPipe) throws IOException;

    static native void handoffRefuse(long conn, String reason) throws IOException;

    static native void handoffConnFree(long conn);

    static native void handoffClose(long h);

    static native void handoffFree(long h);

    static native long invocationsOpen() throws IOException;

    /** The next invocation's reader, writer and completion handles, or false when there are none. */
    static native boolean invocationsNext(long h, long[] out) throws IOException;

    static native void invocationsFree(long h);

    static native void completionFinish(long h, byte[] value) throws IOException;

    static native void completionFree(long h);

    /** The invocation's parameters, or null; read before {@link #completionFinish}. */
    static native String completionParams(long h);

    /** Opens a Lambda invocation's streams; their handles go into {@code out[0..2]}. */
    static native void streamsOf(String requestId, long[] out) throws IOException;

    /** A one-shot function's parameters (env {@code FAASIN_PARAMS}), or null. */
    static native String params();

    /**
     * Ties a direct buffer made by native code to its keepalive handle: the
     * ring stays mapped until the buffer, and every buffer derived from it
     * (duplicates, slices, read-only views all reference it), is unreachable.
     */
    static ByteBuffer track(ByteBuffer view, long keep) {
        CLEANER.register(view, () -> keepaliveFree(keep));
        return view;
    }
}
