package io.faasin;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.WritableByteChannel;

/**
 * A {@link WritableByteChannel} over a {@link FaasinOutputStream}. A write
 * writes every remaining byte (blocking for space as a blocking channel
 * does). A direct buffer goes straight into the ring (one copy); a heap
 * buffer through its backing array.
 */
public final class FaasinWritableChannel implements WritableByteChannel {
    private final FaasinOutputStream out;

    FaasinWritableChannel(FaasinOutputStream out) {
        this.out = out;
    }

    /** The stream this channel writes, for reserve/commit. */
    public FaasinOutputStream stream() {
        return out;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (!out.isOpen()) {
            throw new ClosedChannelException();
        }
        int n = src.remaining();
        out.writeBuffer(src);
        return n;
    }

    @Override
    public boolean isOpen() {
        return out.isOpen();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
