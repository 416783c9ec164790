package io.faasin;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hands stream ends to child processes. A JVM cannot let a child inherit
 * an fd (its launcher closes every fd above 2), so a child started from Java
 * gets its streams the way a function in a container does: give it env
 * {@code FAASIN_SOCKET} = {@link #path()} and {@code FAASIN_TOKEN}, and
 * {@link #serve serve} that token here. Any FAASIN function (Rust, Python,
 * Java, ...) finds its streams this way without code of its own.
 *
 * <pre>{@code
 * try (FaasinHandoffServer server = FaasinHandoffServer.listen(dir.resolve("handoff.sock"));
 *      FaasinPipe toChild = Faasin.pipe()) {
 *     ProcessBuilder pb = new ProcessBuilder("consumer");
 *     server.configure(pb, "t1");
 *     Process p = pb.start();
 *     server.serve("t1", toChild, null, Duration.ofSeconds(30));
 *     toChild.writer().write(data);
 * }
 * }</pre>
 */
public final class FaasinHandoffServer implements Closeable {
    private final long handle;
    private final Path path;

    private FaasinHandoffServer(long handle, Path path) {
        this.handle = handle;
        this.path = path;
        Native.CLEANER.register(this, () -> Native.handoffFree(handle));
    }

    /** Listens on a new unix socket at {@code path} (a stale file there is replaced). */
    public static FaasinHandoffServer listen(Path path) throws IOException {
        Path abs = path.toAbsolutePath();
        return new FaasinHandoffServer(Native.handoffListen(abs.toString()), abs);
    }

    public Path path() {
        return path;
    }

    /** Sets {@code FAASIN_SOCKET} and {@code FAASIN_TOKEN} in a child's environment. */
    public void configure(ProcessBuilder pb, String token) {
        pb.environment().put("FAASIN_SOCKET", path.toString());
        pb.environment().put("FAASIN_TOKEN", token);
        pb.environment().remove("FAASIN_FD");
        pb.environment().remove("FAASOUT_FD");
    }

    /**
     * Waits for the next client and reads its request.
     *
     * @throws SocketTimeoutException if no client came within {@code timeout}
     * @throws InterruptedIOException if the thread was interrupted
     */
    public Request accept(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            for (;;) {
                long c = Native.handoffAccept(handle, 10_000);
                if (c != 0) {
                    return new Request(c);
                }
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("FAASIN handoff accept interrupted");
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new SocketTimeoutException("no FAASIN handoff client at " + path + " within " + timeout);
                }
            }
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Serves the client that presents {@code token}: it gets the read end of
     * {@code input} as its faasin and the write end of {@code output} as its
     * faasout (either may be null). Clients with another token are refused.
     */
    public void serve(String token, FaasinPipe input, FaasinPipe output, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (;;) {
            Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
            try (Request r = accept(left)) {
                if (r.token().equals(token)) {
                    r.grant(input, output);
                    return;
                }
                r.refuse("unknown token");
            }
        }
    }

    /** Stops listening and removes the socket file. */
    @Override
    public void close() throws IOException {
        try {
            Native.handoffClose(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
        Files.deleteIfExists(path);
    }

    /** One client's request: grant or refuse it, then close it. */
    public static final class Request implements Closeable {
        private final AtomicLong conn;
        private final String token;
        private final Cleaner.Cleanable cleanable;

        private Request(long c) {
            AtomicLong cell = new AtomicLong(c);
            this.conn = cell;
            this.cleanable = Native.CLEANER.register(this, () -> {
                long h = cell.getAndSet(0);
                if (h != 0) {
                    Native.handoffConnFree(h);
                }
            });
            this.token = Native.handoffToken(c);
        }

        private long conn() throws IOException {
            long c = conn.get();
            if (c == 0) {
                throw new IOException("FAASIN handoff request already closed");
            }
            return c;
        }

        /** The token the client presented. */
        public String token() {
            return token;
        }

        /**
         * Sends the client the read end of {@code input} and the write end of
         * {@code output} (either may be null); those ends leave this process.
         *
         * @throws IllegalStateException if an end was already opened or handed on
         */
        public void grant(FaasinPipe input, FaasinPipe output) throws IOException {
            try {
                Native.handoffGrant(conn(), input == null ? 0 : input.handle(), output == null ? 0 : output.handle());
            } finally {
                Reference.reachabilityFence(this);
                Reference.reachabilityFence(input);
                Reference.reachabilityFence(output);
            }
        }

        /** Tells the client no, with a reason it will report. */
        public void refuse(String reason) throws IOException {
            try {
                Native.handoffRefuse(conn(), reason);
            } finally {
                Reference.reachabilityFence(this);
            }
        }

        @Override
        public void close() {
            cleanable.clean();
        }
    }
}
