package io.faasin;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
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
public final class FaasinInputStream extends InputStream implements FaasinStream {
    final NativeEnd end;

    /** An end with this native handle, or (0) one that {@code opener} opens on first use. */
    FaasinInputStream(long handle, NativeEnd.Opener opener) {
        end = new NativeEnd(NativeEnd.Kind.INPUT, handle, opener);
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
        return new FaasinInputStream(Native.endFromFd(fd, false), null);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        return len == 0 ? 0 : orEof(end.copy("read", 0, b, off, len));
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    /** Reads into {@code [pos, pos + len)} of a direct buffer; -1 at EOF. */
    int readDirect(ByteBuffer dst, int pos, int len) throws IOException {
        return len == 0 ? 0 : orEof(end.copy("read", 0, dst, pos, len));
    }

    /** A native count, where 0 is EOF, as an InputStream counts: -1 at EOF. */
    private static int orEof(int n) {
        return n == 0 ? -1 : n;
    }

    /** Bytes that can be read now without blocking. */
    @Override
    public int available() throws IOException {
        return end.call(Native::readerAvailable);
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
        return end.openView("borrow", 0).asReadOnlyBuffer();
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
        end.closeView(n);
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
        return new FaasinReadableChannel(this);
    }

    /**
     * Closes the end: the writer's next write fails with "Broken pipe".
     * A second close does nothing.
     *
     * @throws IllegalStateException while a borrowed view is outstanding
     */
    @Override
    public void close() throws IOException {
        end.close();
    }
}
