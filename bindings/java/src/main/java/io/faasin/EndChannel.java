package io.faasin;

import java.io.IOException;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;

/**
 * What both channels share: each is a view of its stream, open while the
 * stream is; closing one closes both.
 */
abstract class EndChannel<S extends FaasinStream> implements Channel {
    private final S stream;

    EndChannel(S stream) {
        this.stream = stream;
    }

    /** The stream behind this channel, for its zero-copy views. */
    public S stream() {
        return stream;
    }

    /** @throws ClosedChannelException once the stream is closed */
    void checkOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    @Override
    public boolean isOpen() {
        return NativeEnd.of(stream).isOpen();
    }

    @Override
    public void close() throws IOException {
        stream.close();
    }
}
