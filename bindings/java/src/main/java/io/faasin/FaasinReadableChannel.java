package io.faasin;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;

/**
 * A {@link ReadableByteChannel} over a {@link FaasinInputStream}. A direct
 * buffer is filled straight from the ring (one copy, no temporary array); a
 * heap buffer through its backing array.
 */
public final class FaasinReadableChannel implements ReadableByteChannel {
    private final FaasinInputStream in;

    FaasinReadableChannel(FaasinInputStream in) {
        this.in = in;
    }

    /** The stream this channel reads, for borrow/release. */
    public FaasinInputStream stream() {
        return in;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!in.isOpen()) {
            throw new ClosedChannelException();
        }
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("cannot read into a read-only buffer");
        }
        int len = dst.remaining();
        if (len == 0) {
            return 0;
        }
        int pos = dst.position();
        int n = dst.isDirect()
                ? in.readDirect(dst, pos, len)
                : in.read(dst.array(), dst.arrayOffset() + pos, len);
        if (n > 0) {
            dst.position(pos + n);
        }
        return n;
    }

    @Override
    public boolean isOpen() {
        return in.isOpen();
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
