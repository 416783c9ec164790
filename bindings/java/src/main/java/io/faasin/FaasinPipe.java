package io.faasin;

import java.io.Closeable;
import java.io.IOException;
import java.lang.ref.Reference;

/**
 * A new FAASIN stream, made by {@link Faasin#pipe(int)}: two endpoint fds,
 * like {@code pipe(2)}. Open an end in this JVM with {@link #reader()} /
 * {@link #writer()}, or hand it to a child process with
 * {@link FaasinHandoffServer} (a JVM cannot let children inherit fds).
 * Either way each end is taken once. Unclaimed ends are closed by
 * {@link #close()}, or when the pipe is garbage-collected.
 */
public final class FaasinPipe implements Closeable {
    private final long handle;
    private FaasinInputStream reader;
    private FaasinOutputStream writer;

    FaasinPipe(long handle) {
        this.handle = handle;
        Native.CLEANER.register(this, () -> Native.pipeFree(handle));
    }

    long handle() {
        return handle;
    }

    /** The read end, opened in this JVM on the first call. */
    public synchronized FaasinInputStream reader() throws IOException {
        if (reader == null) {
            reader = new FaasinInputStream(open(false), null);
        }
        return reader;
    }

    /** The write end, opened in this JVM on the first call. */
    public synchronized FaasinOutputStream writer() throws IOException {
        if (writer == null) {
            writer = new FaasinOutputStream(open(true), null);
        }
        return writer;
    }

    private long open(boolean write) throws IOException {
        try {
            return Native.pipeOpen(handle, write);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The raw fd of the unopened read end (close-on-exec; valid while this
     * pipe owns it), for native code; -1 once the end was opened, handed on
     * or closed.
     */
    public int readFd() {
        return fd(false);
    }

    /** As {@link #readFd()}, for the write end. */
    public int writeFd() {
        return fd(true);
    }

    private int fd(boolean write) {
        try {
            return Native.pipeFd(handle, write);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Closes the unclaimed ends and the streams opened from this pipe. */
    @Override
    public synchronized void close() throws IOException {
        try {
            Native.pipeClose(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
        IOException first = null;
        for (Closeable c : new Closeable[] {reader, writer}) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException e) {
                    if (first == null) {
                        first = e;
                    }
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
