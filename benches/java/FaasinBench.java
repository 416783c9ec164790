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
 * Throughput of one stream between two threads of one JVM (writer thread,
 * reader thread): FAASIN streams (byte[]) and channels (direct ByteBuffer)
 * against a unix-domain SocketChannel and a java.nio Pipe, each with 64 KiB
 * and 1 MiB writes. Prints the median MiB/s of REPS timed runs (after one
 * untimed warm-up run) per row.
 *
 * <pre>java -cp faasin.jar benches/java/FaasinBench.java [TOTAL_MIB] [REPS]</pre>
 */
public class FaasinBench {
    interface Transport {
        /** Moves total bytes in chunks of chunk from a writer thread to this thread. */
        void run(long total, int chunk) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        long total = (args.length > 0 ? Long.parseLong(args[0]) : 256) << 20;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        String[] names = {"faasin stream (byte[])", "faasin channel (direct)", "unix socket channel", "nio Pipe"};
        Transport[] ts = {FaasinBench::faasinStream, FaasinBench::faasinChannel, FaasinBench::unixSocket, FaasinBench::nioPipe};
        System.out.printf(Locale.ROOT, "two threads in one JVM, %d MiB per run, median of %d runs%n", total >> 20, reps);
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
                        chunk == 1 << 20 ? "1 MiB" : "64 KiB", med[i], med[i] / med[2]);
            }
        }
    }

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
