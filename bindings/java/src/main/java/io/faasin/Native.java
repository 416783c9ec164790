package io.faasin;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/**
 * The native methods (bindings/java/native). Handles are pointers to native
 * objects; each is freed only by a Cleaner once its Java owner is
 * unreachable, and every caller keeps its owner reachable across the call.
 * A blocking method returns {@link #RETRY} (or null) after at most 50 ms, so
 * the caller can check for interruption and call again.
 */
final class Native {
    static final int RETRY = -2;

    /** Frees native handles (ends, pipes, keepalives of views). */
    static final Cleaner CLEANER = Cleaner.create();

    static {
        Loader.load();
    }

    private Native() {}

    static native long readerInput() throws IOException;

    static native long readerFromFd(int fd) throws IOException;

    static native int readerRead(long h, byte[] b, int off, int len) throws IOException;

    static native int readerReadDirect(long h, ByteBuffer buf, int pos, int len) throws IOException;

    static native ByteBuffer readerBorrow(long h, long[] keepOut) throws IOException;

    static native void readerRelease(long h, int n) throws IOException;

    static native int readerAvailable(long h) throws IOException;

    static native int readerFd(long h) throws IOException;

    static native boolean readerIsRing(long h) throws IOException;

    static native long readerCapacity(long h) throws IOException;

    static native void readerClose(long h) throws IOException;

    static native void readerFree(long h);

    static native long writerOutput() throws IOException;

    static native long writerFromFd(int fd) throws IOException;

    static native int writerWrite(long h, byte[] b, int off, int len) throws IOException;

    static native int writerWriteDirect(long h, ByteBuffer buf, int pos, int len) throws IOException;

    static native ByteBuffer writerReserve(long h, int min, long[] keepOut) throws IOException;

    static native void writerCommit(long h, int n) throws IOException;

    static native void writerFlush(long h) throws IOException;

    static native int writerFd(long h) throws IOException;

    static native boolean writerIsRing(long h) throws IOException;

    static native long writerCapacity(long h) throws IOException;

    static native void writerClose(long h) throws IOException;

    static native void writerFree(long h);

    static native void keepaliveFree(long keep);

    static native long pipeCreate(int capacity) throws IOException;

    static native int pipeFd(long h, boolean write);

    static native long pipeOpenReader(long h) throws IOException;

    static native long pipeOpenWriter(long h) throws IOException;

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

    /** Panics in Rust on purpose: the test that panics become exceptions. */
    static native int selfTestPanic();

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
