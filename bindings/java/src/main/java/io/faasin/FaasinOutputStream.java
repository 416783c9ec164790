package io.faasin;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The write end of a FAASIN stream, as an {@link OutputStream} with a
 * zero-copy {@link #reserve(int)} / {@link #commit(int)} pair and a
 * {@link #channel() channel}.
 *
 * <p>Writes follow a UNIX pipe: each write is visible to the reader when it
 * returns (so there is nothing to flush; {@link #flush()} checks that the
 * reader is still there), it blocks while the ring is full, and once the
 * reader closed or died it throws {@link FaasinBrokenPipeException}
 * ("Broken pipe"). A blocked write wakes within 50 ms of
 * {@link Thread#interrupt()} and throws {@link InterruptedIOException}
 * whose {@code bytesTransferred} tells how much was written.
 */
public final class FaasinOutputStream extends OutputStream {
    interface Opener {
        long open() throws IOException;
    }

    private final Object lock = new Object();
    private final Opener opener;
    private volatile long handle;
    private volatile boolean closed;
    /** Capacity of the outstanding reserved view; -1 when there is none. */
    private int reserved = -1;
    private FaasinWritableChannel channel;

    private FaasinOutputStream(long handle, Opener opener) {
        this.handle = handle;
        this.opener = opener;
        if (handle != 0) {
            register(handle);
        }
    }

    static FaasinOutputStream of(long handle) {
        return new FaasinOutputStream(handle, null);
    }

    static FaasinOutputStream lazy(Opener opener) {
        return new FaasinOutputStream(0, opener);
    }

    /**
     * Opens the write end of a FAASIN stream (or, as a fallback, any
     * writable fd) from an fd this process has. The fd is duplicated: the
     * caller keeps, and should close, its own.
     *
     * @throws FaasinBadFdException if the fd is not open, or is a read end
     */
    public static FaasinOutputStream fromFd(int fd) throws IOException {
        return of(Native.writerFromFd(fd));
    }

    private void register(long h) {
        Native.CLEANER.register(this, () -> Native.writerFree(h));
    }

    private long handle() throws IOException {
        if (closed) {
            throw new IOException("FAASIN output stream closed");
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

    private void checkNoView(String what) {
        synchronized (lock) {
            if (reserved >= 0) {
                throw new IllegalStateException("cannot " + what + ": a reserved view of " + reserved
                        + " bytes is outstanding; commit(n) it first");
            }
        }
    }

    private void waited(long transferred) throws IOException {
        if (Thread.currentThread().isInterrupted()) {
            InterruptedIOException e = new InterruptedIOException("FAASIN write interrupted");
            e.bytesTransferred = (int) Math.min(transferred, Integer.MAX_VALUE);
            throw e;
        }
        if (closed) {
            throw new IOException("FAASIN output stream closed");
        }
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return;
        }
        long h = handle();
        checkNoView("write");
        long done = 0;
        try {
            while (len > 0) {
                int n = Native.writerWrite(h, b, off, len);
                if (n == Native.RETRY) {
                    waited(done);
                    continue;
                }
                off += n;
                len -= n;
                done += n;
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Writes all remaining bytes of {@code src}, advancing its position. */
    void writeBuffer(ByteBuffer src) throws IOException {
        if (!src.hasRemaining()) {
            return;
        }
        if (!src.isDirect()) {
            if (src.hasArray()) {
                write(src.array(), src.arrayOffset() + src.position(), src.remaining());
                src.position(src.limit());
            } else {
                // A read-only heap buffer hides its array: copy in chunks.
                byte[] tmp = new byte[Math.min(src.remaining(), 64 * 1024)];
                while (src.hasRemaining()) {
                    int n = Math.min(tmp.length, src.remaining());
                    src.get(tmp, 0, n);
                    write(tmp, 0, n);
                }
            }
            return;
        }
        long h = handle();
        checkNoView("write");
        long done = 0;
        try {
            while (src.hasRemaining()) {
                int n = Native.writerWriteDirect(h, src, src.position(), src.remaining());
                if (n == Native.RETRY) {
                    waited(done);
                    continue;
                }
                src.position(src.position() + n);
                done += n;
            }
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(src);
        }
    }

    /**
     * Checks that the reader is still there; every write is already visible.
     *
     * @throws FaasinBrokenPipeException if the reader closed or died
     */
    @Override
    public void flush() throws IOException {
        long h = handle();
        try {
            Native.writerFlush(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Zero-copy write: a writable direct buffer over at least {@code min}
     * free bytes of the ring (all the free space there is; waits for
     * {@code min}). Fill it, then {@link #commit(int)} the first n bytes to
     * publish them. Only one view can be outstanding. Writing into the view
     * after commit or close cannot crash the JVM, but may garble bytes the
     * reader has not read yet.
     *
     * @throws IllegalArgumentException if min exceeds the ring capacity
     * @throws IllegalStateException if a view is already outstanding
     */
    public ByteBuffer reserve(int min) throws IOException {
        if (min < 0) {
            throw new IllegalArgumentException("reserve(" + min + ")");
        }
        long h = handle();
        checkNoView("reserve");
        long[] keep = new long[1];
        try {
            for (;;) {
                ByteBuffer bb = Native.writerReserve(h, min, keep);
                if (bb != null) {
                    Native.track(bb, keep[0]);
                    synchronized (lock) {
                        reserved = bb.capacity();
                    }
                    return bb;
                }
                waited(0);
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Publishes the first {@code n} bytes of the outstanding reserved view
     * and ends the view ({@code commit(0)} abandons it).
     *
     * @throws IllegalStateException if no view is outstanding (n > 0)
     * @throws IllegalArgumentException if n is negative or past the view
     * @throws FaasinBrokenPipeException if the reader is gone
     */
    public void commit(int n) throws IOException {
        synchronized (lock) {
            if (reserved < 0) {
                if (n == 0) {
                    return;
                }
                throw new IllegalStateException("commit(" + n + ") without an outstanding reserve()");
            }
            if (n < 0 || n > reserved) {
                throw new IllegalArgumentException("commit(" + n + ") of a view of " + reserved + " bytes");
            }
            reserved = -1;
            try {
                Native.writerCommit(handle, n);
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }

    /** This end as a {@link java.nio.channels.WritableByteChannel}; closing either closes both. */
    public FaasinWritableChannel channel() {
        synchronized (lock) {
            if (channel == null) {
                channel = new FaasinWritableChannel(this);
            }
            return channel;
        }
    }

    /** The fd to poll: it polls readable (sic) when space frees or the reader leaves. */
    public int fd() throws IOException {
        long h = handle();
        try {
            return Native.writerFd(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** True for a shared-memory ring, false for the plain-fd fallback. */
    public boolean isRing() throws IOException {
        long h = handle();
        try {
            return Native.writerIsRing(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The ring capacity in bytes, or -1 for the plain-fd fallback. */
    public long capacity() throws IOException {
        long h = handle();
        try {
            return Native.writerCapacity(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    boolean isOpen() {
        return !closed;
    }

    /**
     * Closes the end: the reader gets EOF after every byte written. A
     * second close does nothing.
     *
     * @throws IllegalStateException while a reserved view is outstanding
     */
    @Override
    public void close() throws IOException {
        synchronized (lock) {
            if (reserved >= 0) {
                throw new IllegalStateException("cannot close the FAASIN output stream: a reserved view of "
                        + reserved + " bytes is outstanding; commit(n) it first");
            }
            closed = true;
        }
        long h = handle;
        if (h != 0) {
            try {
                Native.writerClose(h);
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }
}
