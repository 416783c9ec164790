package io.faasin;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * A {@link ReadableByteChannel} over a {@link FaasinInputStream}. A direct
 * buffer is filled straight from the ring (one copy, no temporary array); a
 * heap buffer through its backing array.
 */
public final class FaasinReadableChannel extends EndChannel<FaasinInputStream> implements ReadableByteChannel {
    FaasinReadableChannel(FaasinInputStream in) {
        super(in);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        checkOpen();
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("cannot read into a read-only buffer");
        }
        int len = dst.remaining();
        if (len == 0) {
            return 0;
        }
        int pos = dst.position();
        int n = dst.isDirect()
                ? stream().readDirect(dst, pos, len)
                : stream().read(dst.array(), dst.arrayOffset() + pos, len);
        if (n > 0) {
            dst.position(pos + n);
        }
        return n;
    }
}
