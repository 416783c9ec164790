import io.faasin.Faasin;
import io.faasin.FaasinInputStream;
import io.faasin.FaasinOutputStream;
import io.faasin.FaasinPipe;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * Throughput of one stream, FAASIN streams (byte[]), channels (direct
 * ByteBuffer) and zero-copy borrows (the reader uses the bytes in the ring
 * and copies nothing out; the writer still copies in) against a unix-domain SocketChannel (and, within one JVM, a
 * java.nio Pipe), with 64 KiB and 1 MiB writes, each table row the median
 * MiB/s of REPS timed runs after one untimed warm-up run:
 * <ol>
 * <li>JVM to JVM: this JVM writes, a child JVM (this file, {@code --sink})
 *     reads; a run ends when the child acknowledges its last byte. The FAASIN
 *     child gets its end over the handoff socket.
 * <li>Two threads in one JVM (a java.nio Pipe cannot cross JVMs).
 * </ol>
 * Run from the repository root (the child is started from
 * benches/java/FaasinBench.java, or -Dfaasin.bench.source):
 * <pre>java -cp faasin.jar benches/java/FaasinBench.java [TOTAL_MIB] [REPS]</pre>
 */
public class FaasinBench {
    interface Transport {
        /** Moves total bytes in chunks of chunk from a writer thread to this thread. */
        void run(long total, int chunk) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--sink")) {
            sink(args[1], Integer.parseInt(args[2]), Long.parseLong(args[3]), args.length > 4 ? args[4] : null);
            return;
        }
        long total = (args.length > 0 ? Long.parseLong(args[0]) : 256) << 20;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        crossJvm(total, reps);
        String[] names = {"faasin stream (byte[])", "faasin channel (direct)", "faasin borrow (in place)", "unix socket channel", "nio Pipe"};
        Transport[] ts = {FaasinBench::faasinStream, FaasinBench::faasinChannel, FaasinBench::faasinBorrow,
            FaasinBench::unixSocket, FaasinBench::nioPipe};
        System.out.printf(Locale.ROOT, "%ntwo threads in one JVM, %d MiB per run, median of %d runs%n", total >> 20, reps);
        System.out.printf(Locale.ROOT, "%-26s %8s %12s %10s%n", "transport", "chunk", "MiB/s", "vs socket");
        for (int chunk : new int[] {64 << 10, 1 << 20}) {
            double[] med = new double[ts.length];
            for (int i = 0; i < ts.length; i++) {
                ts[i].run(Math.min(total, 64L << 20), chunk); // warm-up (JIT)
                List<Double> rates = new ArrayList<>();
                for (int r = 0; r < reps; r++) {
                    long t0 = System.nanoTime();
                    ts[i].run(total, chunk);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    rates.add(total / 1048576.0 / secs);
                }
                Collections.sort(rates);
                med[i] = rates.get(rates.size() / 2);
            }
            for (int i = 0; i < ts.length; i++) {
                System.out.printf(Locale.ROOT, "%-26s %8s %12.0f %9.2fx%n", names[i],
                        chunk == 1 << 20 ? "1 MiB" : "64 KiB", med[i], med[i] / med[3]);
            }
        }
    }

    // ---- JVM to JVM: this JVM writes, a child JVM (--sink) reads ----

    static void crossJvm(long total, int reps) throws Exception {
        String[] kinds = {"faasin-stream", "faasin-channel", "faasin-borrow", "unix"};
        String[] names = {"faasin stream (byte[])", "faasin channel (direct)", "faasin borrow (in place)", "unix socket channel"};
        System.out.printf(Locale.ROOT, "JVM to JVM (writer here, reader in a child JVM), %d MiB per run, median of %d runs%n",
                total >> 20, reps);
        System.out.printf(Locale.ROOT, "%-26s %8s %12s %10s%n", "transport", "chunk", "MiB/s", "vs socket");
        for (int chunk : new int[] {64 << 10, 1 << 20}) {
            double[] med = new double[kinds.length];
            for (int i = 0; i < kinds.length; i++) {
                med[i] = crossJvmRun(kinds[i], chunk, total, reps);
            }
            for (int i = 0; i < kinds.length; i++) {
                System.out.printf(Locale.ROOT, "%-26s %8s %12.0f %9.2fx%n", names[i],
                        chunk == 1 << 20 ? "1 MiB" : "64 KiB", med[i], med[i] / med[kinds.length - 1]);
            }
        }
    }

    /** One child for warm-up plus reps segments of total bytes; the child acks each segment. */
    static double crossJvmRun(String kind, int chunk, long total, int reps) throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path dir = Files.createTempDirectory("faasin-bench");
        Path sockPath = dir.resolve("s");
        List<String> cmd = new ArrayList<>(List.of(javaBin, "-cp", System.getProperty("java.class.path"),
                benchSource(), "--sink", kind, String.valueOf(chunk), String.valueOf(total), sockPath.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        List<Double> rates = new ArrayList<>();
        Process child = null;
        try {
            WritableByteChannel ch;
            FaasinOutputStream stream = null;
            AutoCloseable[] owned;
            if (kind.equals("unix")) {
                ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                server.bind(UnixDomainSocketAddress.of(sockPath));
                child = pb.start();
                SocketChannel c = server.accept();
                ch = c;
                owned = new AutoCloseable[] {c, server};
            } else {
                FaasinPipe p = Faasin.pipe();
                io.faasin.FaasinHandoffServer hs = io.faasin.FaasinHandoffServer.listen(dir.resolve("h"));
                hs.configure(pb, "sink");
                child = pb.start();
                hs.serve("sink", p, null, java.time.Duration.ofSeconds(60));
                stream = p.writer();
                ch = stream.channel();
                owned = new AutoCloseable[] {stream, hs};
            }
            java.io.BufferedReader acks = new java.io.BufferedReader(
                    new java.io.InputStreamReader(child.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
            byte[] heap = new byte[chunk];
            ByteBuffer direct = ByteBuffer.allocateDirect(chunk);
            for (int r = 0; r <= reps; r++) {
                long t0 = System.nanoTime();
                for (long left = total; left > 0; left -= chunk) {
                    int n = (int) Math.min(chunk, left);
                    if (!kind.equals("faasin-channel") && stream != null) {
                        stream.write(heap, 0, n);
                    } else {
                        direct.clear().limit(n);
                        while (direct.hasRemaining()) {
                            ch.write(direct);
                        }
                    }
                }
                String ack = acks.readLine();
                double secs = (System.nanoTime() - t0) / 1e9;
                if (!"seg".equals(ack)) {
                    throw new IOException("sink said " + ack);
                }
                if (r > 0) { // r == 0 warms up both JVMs
                    rates.add(total / 1048576.0 / secs);
                }
            }
            for (AutoCloseable c : owned) {
                c.close();
            }
            if (child.waitFor() != 0) {
                throw new IOException("sink exited with " + child.exitValue());
            }
        } finally {
            if (child != null && child.isAlive()) {
                child.destroyForcibly();
            }
            Files.deleteIfExists(sockPath);
            Files.deleteIfExists(dir.resolve("h"));
            Files.deleteIfExists(dir);
        }
        Collections.sort(rates);
        return rates.get(rates.size() / 2);
    }

    static String benchSource() {
        String src = System.getProperty("faasin.bench.source");
        return src != null ? src : Path.of("benches", "java", "FaasinBench.java").toString();
    }

    /** The child: reads to EOF, printing "seg" after every segment of total bytes. */
    static void sink(String kind, int chunk, long total, String path) throws Exception {
        ReadableByteChannel ch = kind.equals("unix")
                ? SocketChannel.open(UnixDomainSocketAddress.of(Path.of(path)))
                : Faasin.in.channel();
        byte[] heap = new byte[chunk];
        ByteBuffer direct = ByteBuffer.allocateDirect(chunk);
        long inSegment = 0;
        for (;;) {
            int n;
            if (kind.equals("faasin-borrow")) {
                // The bytes are used where they lie in the ring; nothing is copied out.
                ByteBuffer view = Faasin.in.borrow();
                n = view.remaining() == 0 ? -1 : Math.min(view.remaining(), chunk);
                if (n > 0) {
                    Faasin.in.release(n);
                }
            } else {
                n = kind.equals("faasin-stream") ? Faasin.in.read(heap) : ch.read(direct.clear());
            }
            if (n < 0) {
                break;
            }
            inSegment += n;
            if (inSegment == total) {
                System.out.println("seg");
                System.out.flush();
                inSegment = 0;
            } else if (inSegment > total) {
                throw new IOException("segment overran: " + inSegment);
            }
        }
        ch.close();
    }

    // ---- two threads in one JVM ----

    static void faasinStream(long total, int chunk) throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            CompletableFuture<Void> f = async(() -> {
                byte[] b = new byte[chunk];
                try (w) {
                    for (long left = total; left > 0; left -= chunk) {
                        w.write(b, 0, (int) Math.min(chunk, left));
                    }
                }
            });
            byte[] b = new byte[chunk];
            long got = 0;
            for (int n; (n = r.read(b)) > 0; ) {
                got += n;
            }
            f.join();
            check(got, total);
        }
    }

    /** Writer as in faasinStream; the reader uses the bytes in the ring and copies nothing. */
    static void faasinBorrow(long total, int chunk) throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            CompletableFuture<Void> f = async(() -> {
                byte[] b = new byte[chunk];
                try (w) {
                    for (long left = total; left > 0; left -= chunk) {
                        w.write(b, 0, (int) Math.min(chunk, left));
                    }
                }
            });
            long got = 0;
            for (;;) {
                ByteBuffer view = r.borrow();
                int n = Math.min(view.remaining(), chunk);
                if (n == 0) {
                    break;
                }
                r.release(n);
                got += n;
            }
            f.join();
            check(got, total);
        }
    }

    static void faasinChannel(long total, int chunk) throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            channels(p.writer().channel(), p.reader().channel(), total, chunk);
        }
    }

    static void unixSocket(long total, int chunk) throws Exception {
        Path dir = Files.createTempDirectory("faasin-bench");
        Path sock = dir.resolve("s");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(sock));
                    SocketChannel accepted = server.accept()) {
                channels(client, accepted, total, chunk);
            }
        } finally {
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
        }
    }

    static void nioPipe(long total, int chunk) throws Exception {
        Pipe p = Pipe.open();
        try (Pipe.SinkChannel sink = p.sink(); Pipe.SourceChannel source = p.source()) {
            channels(sink, source, total, chunk);
        }
    }

    /** Direct buffers on both sides: the fastest way to use any channel. */
    static void channels(WritableByteChannel out, ReadableByteChannel in, long total, int chunk) throws Exception {
        CompletableFuture<Void> f = async(() -> {
            ByteBuffer b = ByteBuffer.allocateDirect(chunk);
            for (long left = total; left > 0; left -= chunk) {
                b.clear().limit((int) Math.min(chunk, left));
                while (b.hasRemaining()) {
                    out.write(b);
                }
            }
            out.close();
        });
        ByteBuffer b = ByteBuffer.allocateDirect(chunk);
        long got = 0;
        for (int n; (n = in.read(b.clear())) > 0; ) {
            got += n;
        }
        f.join();
        check(got, total);
    }

    interface Body {
        void run() throws Exception;
    }

    static CompletableFuture<Void> async(Body body) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                body.run();
                f.complete(null);
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        t.start();
        return f;
    }

    static void check(long got, long total) throws IOException {
        if (got != total) {
            throw new IOException("moved " + got + " bytes, expected " + total);
        }
    }
}
