package io.faasin;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/**
 * A {@link WritableByteChannel} over a {@link FaasinOutputStream}. A write
 * writes every remaining byte (blocking for space as a blocking channel
 * does). A direct buffer goes straight into the ring (one copy); a heap
 * buffer through its backing array.
 */
public final class FaasinWritableChannel extends EndChannel<FaasinOutputStream> implements WritableByteChannel {
    FaasinWritableChannel(FaasinOutputStream out) {
        super(out);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        checkOpen();
        int n = src.remaining();
        stream().writeBuffer(src);
        return n;
    }
}
