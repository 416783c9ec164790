package io.faasin;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
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
public final class FaasinOutputStream extends OutputStream implements FaasinStream {
    final NativeEnd end;

    /** An end with this native handle, or (0) one that {@code opener} opens on first use. */
    FaasinOutputStream(long handle, NativeEnd.Opener opener) {
        end = new NativeEnd(NativeEnd.Kind.OUTPUT, handle, opener);
    }

    /**
     * Opens the write end of a FAASIN stream (or, as a fallback, any
     * writable fd) from an fd this process has. The fd is duplicated: the
     * caller keeps, and should close, its own.
     *
     * @throws FaasinBadFdException if the fd is not open, or is a read end
     */
    public static FaasinOutputStream fromFd(int fd) throws IOException {
        return new FaasinOutputStream(Native.endFromFd(fd, true), null);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        for (int done = 0; done < len; ) {
            done += end.copy("write", done, b, off + done, len - done);
        }
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    /** Writes all remaining bytes of {@code src}, advancing its position. */
    void writeBuffer(ByteBuffer src) throws IOException {
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
        for (long done = 0; src.hasRemaining(); ) {
            int n = end.copy("write", done, src, src.position(), src.remaining());
            src.position(src.position() + n);
            done += n;
        }
    }

    /**
     * Checks that the reader is still there; every write is already visible.
     *
     * @throws FaasinBrokenPipeException if the reader closed or died
     */
    @Override
    public void flush() throws IOException {
        end.call(h -> {
            Native.writerFlush(h);
            return null;
        });
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
        return end.openView("reserve", min);
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
        end.closeView(n);
    }

    /** This end as a {@link java.nio.channels.WritableByteChannel}; closing either closes both. */
    public FaasinWritableChannel channel() {
        return new FaasinWritableChannel(this);
    }

    /**
     * Closes the end: the reader gets EOF after every byte written. A
     * second close does nothing.
     *
     * @throws IllegalStateException while a reserved view is outstanding
     */
    @Override
    public void close() throws IOException {
        end.close();
    }
}
