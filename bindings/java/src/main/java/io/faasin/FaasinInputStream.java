package io.faasin;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The read end of a FAASIN stream, as an {@link InputStream} with a
 * zero-copy {@link #borrow()} / {@link #release(int)} pair and a
 * {@link #channel() channel}.
 *
 * <p>Reads follow a UNIX pipe: a read returns as soon as any byte is there,
 * and -1 only after the writer closed (or died) and every byte it wrote was
 * read. A blocked read wakes within 50 ms of {@link Thread#interrupt()} and
 * throws {@link InterruptedIOException} (the thread's interrupt status stays
 * set), and it holds no JVM lock while waiting. {@link #close()} may be
 * called from any thread; a read blocked in another thread then fails.
 *
 * <p>One thread at a time should read; the native end is locked, so misuse
 * is never unsafe, only confusing.
 */
public final class FaasinInputStream extends InputStream {
    /** Opens the native end on first use (for {@link Faasin#in}). */
    interface Opener {
        long open() throws IOException;
    }

    private final Object lock = new Object();
    private final Opener opener;
    private volatile long handle;
    private volatile boolean closed;
    /** Capacity of the outstanding borrowed view; -1 when there is none. */
    private int borrowed = -1;
    private FaasinReadableChannel channel;

    private FaasinInputStream(long handle, Opener opener) {
        this.handle = handle;
        this.opener = opener;
        if (handle != 0) {
            register(handle);
        }
    }

    static FaasinInputStream of(long handle) {
        return new FaasinInputStream(handle, null);
    }

    static FaasinInputStream lazy(Opener opener) {
        return new FaasinInputStream(0, opener);
    }

    /**
     * Opens the read end of a FAASIN stream (or, as a fallback, any readable
     * fd such as a pipe or file) from an fd this process has. The fd is
     * duplicated: the caller keeps, and should close, its own. A FAASIN
     * endpoint can be opened once: opening takes its hello off the socket.
     *
     * @throws FaasinBadFdException if the fd is not open, or is a write end
     */
    public static FaasinInputStream fromFd(int fd) throws IOException {
        return of(Native.readerFromFd(fd));
    }

    private void register(long h) {
        Native.CLEANER.register(this, () -> Native.readerFree(h));
    }

    /** The native handle, opening the end first if it is lazy. */
    private long handle() throws IOException {
        if (closed) {
            throw new IOException("FAASIN input stream closed");
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
            if (borrowed >= 0) {
                throw new IllegalStateException("cannot " + what + ": a borrowed view of " + borrowed
                        + " bytes is outstanding; release(n) it first");
            }
        }
    }

    /** Called when a wait slice ran out: stop on interrupt or close. */
    void waited(long transferred) throws IOException {
        if (Thread.currentThread().isInterrupted()) {
            InterruptedIOException e = new InterruptedIOException("FAASIN read interrupted");
            e.bytesTransferred = (int) Math.min(transferred, Integer.MAX_VALUE);
            throw e;
        }
        if (closed) {
            throw new IOException("FAASIN input stream closed");
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return 0;
        }
        long h = handle();
        checkNoView("read");
        try {
            for (;;) {
                int n = Native.readerRead(h, b, off, len);
                if (n != Native.RETRY) {
                    return n == 0 ? -1 : n;
                }
                waited(0);
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Reads into {@code [pos, pos + len)} of a direct buffer; -1 at EOF. */
    int readDirect(ByteBuffer dst, int pos, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        long h = handle();
        checkNoView("read");
        try {
            for (;;) {
                int n = Native.readerReadDirect(h, dst, pos, len);
                if (n != Native.RETRY) {
                    return n == 0 ? -1 : n;
                }
                waited(0);
            }
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(dst);
        }
    }

    /** Bytes that can be read now without blocking. */
    @Override
    public int available() throws IOException {
        long h = handle();
        try {
            return Native.readerAvailable(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Zero-copy read: a read-only direct buffer over every byte readable now
     * (waiting for at least one), pointing straight into the shared ring.
     * The bytes stay put until {@link #release(int)}; an empty buffer means
     * EOF (and needs no release). Only one view can be outstanding.
     *
     * <p>Using the view after release or close cannot crash the JVM (the
     * ring stays mapped while any view is reachable), but its bytes then
     * mean nothing: the writer may already have reused them.
     *
     * @throws IllegalStateException if a view is already outstanding
     */
    public ByteBuffer borrow() throws IOException {
        long h = handle();
        checkNoView("borrow");
        long[] keep = new long[1];
        try {
            for (;;) {
                ByteBuffer bb = Native.readerBorrow(h, keep);
                if (bb != null) {
                    Native.track(bb, keep[0]);
                    synchronized (lock) {
                        if (bb.capacity() > 0) {
                            borrowed = bb.capacity();
                        }
                    }
                    return bb.asReadOnlyBuffer();
                }
                waited(0);
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Gives the first {@code n} bytes of the outstanding view back to the
     * writer and ends the view; bytes past {@code n} are still unread and
     * start the next borrow or read.
     *
     * @throws IllegalStateException if no view is outstanding (n > 0)
     * @throws IllegalArgumentException if n is negative or past the view
     */
    public void release(int n) throws IOException {
        synchronized (lock) {
            if (borrowed < 0) {
                if (n == 0) {
                    return;
                }
                throw new IllegalStateException("release(" + n + ") without an outstanding borrow()");
            }
            if (n < 0 || n > borrowed) {
                throw new IllegalArgumentException("release(" + n + ") of a view of " + borrowed + " bytes");
            }
            try {
                Native.readerRelease(handle, n);
            } finally {
                Reference.reachabilityFence(this);
            }
            borrowed = -1;
        }
    }

    /** Copies everything up to EOF to {@code out}; ring to ring if it is FAASIN. */
    @Override
    public long transferTo(OutputStream out) throws IOException {
        Objects.requireNonNull(out, "out");
        long total = 0;
        if (out instanceof FaasinOutputStream) {
            FaasinOutputStream fo = (FaasinOutputStream) out;
            for (;;) {
                ByteBuffer view = borrow();
                int n = view.remaining();
                if (n == 0) {
                    return total;
                }
                try {
                    fo.writeBuffer(view);
                } finally {
                    release(n);
                }
                total += n;
            }
        }
        byte[] buf = new byte[64 * 1024];
        for (int n; (n = read(buf, 0, buf.length)) > 0; ) {
            out.write(buf, 0, n);
            total += n;
        }
        return total;
    }

    /** This end as a {@link java.nio.channels.ReadableByteChannel}; closing either closes both. */
    public FaasinReadableChannel channel() {
        synchronized (lock) {
            if (channel == null) {
                channel = new FaasinReadableChannel(this);
            }
            return channel;
        }
    }

    /** The fd to poll for readability (the endpoint socket, or the fallback fd). */
    public int fd() throws IOException {
        long h = handle();
        try {
            return Native.readerFd(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** True for a shared-memory ring, false for the plain-fd fallback. */
    public boolean isRing() throws IOException {
        long h = handle();
        try {
            return Native.readerIsRing(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The ring capacity in bytes, or -1 for the plain-fd fallback. */
    public long capacity() throws IOException {
        long h = handle();
        try {
            return Native.readerCapacity(h);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    boolean isOpen() {
        return !closed;
    }

    /**
     * Closes the end: the writer's next write fails with "Broken pipe".
     * A second close does nothing.
     *
     * @throws IllegalStateException while a borrowed view is outstanding
     */
    @Override
    public void close() throws IOException {
        synchronized (lock) {
            if (borrowed >= 0) {
                throw new IllegalStateException("cannot close the FAASIN input stream: a borrowed view of "
                        + borrowed + " bytes is outstanding; release(n) it first");
            }
            closed = true;
        }
        long h = handle;
        if (h != 0) {
            try {
                Native.readerClose(h);
            } finally {
                Reference.reachabilityFence(this);
            }
        }
    }
}
