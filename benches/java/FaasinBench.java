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
 * ByteBuffer) and zero-copy borrows (the reader takes a view of the bytes
 * in the ring and gives them back without reading them; the writer still
 * copies in) against a unix-domain
 * SocketChannel (and, within one JVM, a java.nio Pipe), with 64 KiB and
 * 1 MiB writes and reads on both sides. Each table row is the median MiB/s of
 * REPS timed runs (with the range, and the ratio to the socket's median); the
 * transports take turns within every round, after untimed warm-up rounds
 * (JVM to JVM: until the JIT of every JVM has gone quiet):
 * <ol>
 * <li>JVM to JVM: this JVM writes, a child JVM (this file, {@code --sink})
 *     reads; a run ends when the child acknowledges its last byte. The FAASIN
 *     child gets its end over the handoff socket.
 * <li>Two threads in one JVM (a java.nio Pipe cannot cross JVMs).
 * </ol>
 * Run from the repository root (the child is started from
 * benches/java/FaasinBench.java, or -Dfaasin.bench.source):
 * <pre>java -cp faasin.jar benches/java/FaasinBench.java [TOTAL_MIB] [REPS] [all|jvm|threads]</pre>
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
        String only = args.length > 2 ? args[2] : "all";
        if (!only.equals("threads")) {
            crossJvm(total, reps);
        }
        if (only.equals("jvm")) {
            return;
        }
        String[] names = {"faasin stream (byte[])", "faasin channel (direct)", "faasin borrow (unread)",
            "unix socket channel", "nio Pipe"};
        Transport[] ts = {FaasinBench::faasinStream, FaasinBench::faasinChannel, FaasinBench::faasinBorrow,
            FaasinBench::unixSocket, FaasinBench::nioPipe};
        System.out.printf(Locale.ROOT, "%ntwo threads in one JVM, %d MiB per run, median of %d runs, "
                + "transports alternating%n", total >> 20, reps);
        header();
        for (int chunk : new int[] {64 << 10, 1 << 20}) {
            List<List<Double>> rates = new ArrayList<>();
            for (int i = 0; i < ts.length; i++) {
                rates.add(new ArrayList<>());
            }
            for (int r = 0; r < WARMUP + reps; r++) {
                for (int k = 0; k < ts.length; k++) {
                    int i = (r + k) % ts.length;
                    long t0 = System.nanoTime();
                    ts[i].run(total, chunk);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    if (r >= WARMUP) {
                        rates.get(i).add(total / 1048576.0 / secs);
                    }
                }
            }
            table(names, rates, chunk, 3);
        }
    }

    // ---- JVM to JVM: this JVM writes, a child JVM (--sink) reads ----

    static final String[] CROSS_KINDS = {"faasin-stream", "faasin-channel", "faasin-borrow", "unix"};
    static final String[] CROSS_NAMES = {"faasin stream (byte[])", "faasin channel (direct)", "faasin borrow (unread)",
        "unix socket channel"};

    /**
     * One child JVM per transport, all started before timing; then rounds in
     * which every transport moves one segment of total bytes in turn (the
     * first transport rotates from round to round), so a slow patch on this
     * shared machine hits all of them alike. Untimed rounds come first, until
     * one passes with (almost) no JIT compiling in any of the JVMs.
     */
    static void crossJvm(long total, int reps) throws Exception {
        System.out.printf(Locale.ROOT, "JVM to JVM (writer here, reader in a child JVM), %d MiB per run, "
                + "median of %d runs, transports alternating%n", total >> 20, reps);
        header();
        for (int chunk : new int[] {64 << 10, 1 << 20}) {
            Sink[] sinks = new Sink[CROSS_KINDS.length];
            List<List<Double>> rates = new ArrayList<>();
            List<List<String>> states = new ArrayList<>();
            String warmNote = "";
            try {
                for (int i = 0; i < sinks.length; i++) {
                    sinks[i] = new Sink(CROSS_KINDS[i], chunk, total);
                    rates.add(new ArrayList<>());
                    states.add(new ArrayList<>());
                }
                // Untimed rounds until neither JVM is compiling any more:
                // both run javac first (source-file mode), and its JIT work
                // would take a core from the transports for seconds.
                long jit = Long.MAX_VALUE;
                int warm = 0;
                for (; warm < MAX_WARMUP && (warm < WARMUP || jit >= QUIET_JIT_MS); warm++) {
                    long before = jitMillis(sinks);
                    for (Sink s : sinks) {
                        s.segment();
                    }
                    jit = jitMillis(sinks) - before;
                }
                warmNote = String.format(Locale.ROOT, "(%s: %d untimed warm-up rounds, the last with %d ms of JIT)",
                        chunk == 1 << 20 ? "1 MiB" : "64 KiB", warm, jit);
                Load load = new Load(sinks);
                for (int r = 0; r < reps; r++) {
                    for (int k = 0; k < sinks.length; k++) {
                        int i = (r + k) % sinks.length;
                        String before = HostState.probe();
                        rates.get(i).add(sinks[i].segment());
                        states.get(i).add(HostState.between(before, HostState.probe()));
                    }
                }
                warmNote += "\n" + load.done();
                for (Sink s : sinks) {
                    s.finish();
                }
            } finally {
                for (Sink s : sinks) {
                    if (s != null) {
                        s.kill();
                    }
                }
            }
            table(CROSS_NAMES, rates, chunk, CROSS_KINDS.length - 1);
            System.out.println(warmNote);
            HostState.table(CROSS_NAMES, rates, states, chunk, CROSS_KINDS.length - 1);
        }
    }

    /**
     * The machine's CPU use over the timed rounds, outside the benchmark's
     * own JVMs: other processes (this machine is shared) and, in a VM,
     * time the host took (steal). A transport can only stream at full speed
     * while its writer and reader each have a CPU.
     */
    static final class Load {
        final Sink[] sinks;
        final long[] stat0 = cpuStat();
        final long own0;
        final long t0 = System.nanoTime();

        Load(Sink[] sinks) {
            this.sinks = sinks;
            own0 = ownCpuNanos();
        }

        long ownCpuNanos() {
            long ns = ((com.sun.management.OperatingSystemMXBean)
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
            for (Sink s : sinks) {
                ns += s.child.info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
            }
            return ns;
        }

        /** "busy" and "steal" ticks summed over all CPUs, from /proc/stat. */
        static long[] cpuStat() {
            try {
                String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
                long busy = 0;
                for (int i : new int[] {1, 2, 3, 6, 7}) { // user nice system irq softirq
                    busy += Long.parseLong(f[i]);
                }
                return new long[] {busy, f.length > 8 ? Long.parseLong(f[8]) : 0};
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        String done() {
            long[] stat1 = cpuStat();
            double secs = (System.nanoTime() - t0) / 1e9;
            if (stat0 == null || stat1 == null) {
                return "(machine load: /proc/stat unreadable)";
            }
            double tick = 100.0; // USER_HZ on Linux
            double busy = (stat1[0] - stat0[0]) / tick / secs;
            double own = (ownCpuNanos() - own0) / 1e9 / secs;
            double steal = (stat1[1] - stat0[1]) / tick / secs;
            return String.format(Locale.ROOT, "(timed rounds: %d CPUs; this benchmark's JVMs used %.2f of them, "
                    + "other processes %.2f, the VM host took %.2f)",
                    Runtime.getRuntime().availableProcessors(), own, Math.max(0, busy - own), steal);
        }
    }

    /** Untimed rounds before the timed ones: at least WARMUP, at most MAX_WARMUP. */
    static final int WARMUP = 2;
    static final int MAX_WARMUP = 40;
    /** A warm-up round with less JIT time than this (all JVMs together) ends the warm-up. */
    static final long QUIET_JIT_MS = 5;

    /** Milliseconds this JVM and the sinks' JVMs (as of their last ack) spent compiling. */
    static long jitMillis(Sink[] sinks) {
        long ms = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
        for (Sink s : sinks) {
            ms += s.childJit;
        }
        return ms;
    }

    /** A child JVM reading one transport; this JVM writes segments of total bytes to it. */
    static final class Sink {
        final String kind;
        final int chunk;
        final long total;
        final Path dir = Files.createTempDirectory("faasin-bench");
        final Process child;
        final WritableByteChannel ch;
        final FaasinOutputStream stream;
        final List<AutoCloseable> owned = new ArrayList<>();
        final java.io.BufferedReader acks;
        final byte[] heap;
        final ByteBuffer direct;
        /** The child's JIT time in ms, from its last ack. */
        long childJit;

        Sink(String kind, int chunk, long total) throws Exception {
            this.kind = kind;
            this.chunk = chunk;
            this.total = total;
            String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Path sockPath = dir.resolve("s");
            List<String> cmd = new ArrayList<>(List.of(javaBin, "-cp", System.getProperty("java.class.path"),
                    benchSource(), "--sink", kind, String.valueOf(chunk), String.valueOf(total), sockPath.toString()));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
            if (kind.equals("unix")) {
                ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                owned.add(server);
                server.bind(UnixDomainSocketAddress.of(sockPath));
                child = pb.start();
                SocketChannel c = server.accept();
                owned.add(0, c);
                ch = c;
                stream = null;
            } else {
                FaasinPipe p = Faasin.pipe();
                io.faasin.FaasinHandoffServer hs = io.faasin.FaasinHandoffServer.listen(dir.resolve("h"));
                owned.add(hs);
                hs.configure(pb, "sink");
                child = pb.start();
                hs.serve("sink", p, null, java.time.Duration.ofSeconds(60));
                stream = p.writer();
                owned.add(0, stream);
                ch = stream.channel();
            }
            acks = new java.io.BufferedReader(
                    new java.io.InputStreamReader(child.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
            heap = new byte[chunk];
            direct = ByteBuffer.allocateDirect(chunk);
        }

        /** Writes one segment; MiB/s until the child acknowledged its last byte. */
        double segment() throws IOException {
            boolean streamWrites = stream != null && !kind.equals("faasin-channel");
            long t0 = System.nanoTime();
            for (long left = total; left > 0; left -= chunk) {
                int n = (int) Math.min(chunk, left);
                if (streamWrites) {
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
            if (ack == null || !ack.startsWith("seg ")) {
                throw new IOException(kind + " sink said " + ack);
            }
            childJit = Long.parseLong(ack.substring(4));
            return total / 1048576.0 / secs;
        }

        void finish() throws Exception {
            for (AutoCloseable c : owned) {
                c.close();
            }
            if (child.waitFor() != 0) {
                throw new IOException(kind + " sink exited with " + child.exitValue());
            }
        }

        void kill() throws IOException {
            if (child.isAlive()) {
                child.destroyForcibly();
            }
            Files.deleteIfExists(dir.resolve("s"));
            Files.deleteIfExists(dir.resolve("h"));
            Files.deleteIfExists(dir);
        }
    }

    /**
     * The host state (see benches/src/host_state.rs) around each measurement,
     * from the {@code host_state} program (a bare cache-line round trip
     * between CPU 0 and CPU 1): the ring's rate follows it, a socket's much
     * less. Off, with a note, when the program is not built.
     */
    static final class HostState {
        static final Path PROGRAM = Path.of(System.getProperty("faasin.host.state",
                Path.of("target", "release", "host_state").toString()));
        static boolean warned;

        /** "near", "far", or null when the probe cannot run. */
        static String probe() {
            if (!Files.isExecutable(PROGRAM)) {
                if (!warned) {
                    warned = true;
                    System.out.println("(no host-state probe: build it with `cargo build --release -p faasin-benches "
                            + "--bin host_state`)");
                }
                return null;
            }
            try {
                Process p = new ProcessBuilder(PROGRAM.toString()).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes()).trim();
                if (p.waitFor() != 0) {
                    return null;
                }
                String[] f = out.split(" ");
                return f.length == 2 ? f[1] : null;
            } catch (IOException | InterruptedException e) {
                return null;
            }
        }

        /** The state of a measurement: its probes agree, or "mixed". */
        static String between(String before, String after) {
            if (before == null || after == null) {
                return null;
            }
            return before.equals(after) ? before : "mixed";
        }

        /** The table again, split into measurements made near and far. */
        static void table(String[] names, List<List<Double>> rates, List<List<String>> states, int chunk, int base) {
            if (states.stream().allMatch(l -> l.stream().allMatch(x -> x == null))) {
                return;
            }
            System.out.printf(Locale.ROOT, "by host state: %-26s %8s %16s %10s %16s %10s%n", "transport", "chunk",
                    "near MiB/s (n)", "vs socket", "far MiB/s (n)", "vs socket");
            for (int i = 0; i < names.length; i++) {
                StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "by host state: %-26s %8s",
                        names[i], chunk == 1 << 20 ? "1 MiB" : "64 KiB"));
                for (String st : new String[] {"near", "far"}) {
                    List<Double> mine = of(rates.get(i), states.get(i), st);
                    List<Double> ref = of(rates.get(base), states.get(base), st);
                    if (mine.isEmpty()) {
                        row.append(String.format(Locale.ROOT, " %16s %10s", "- (0)", ""));
                        continue;
                    }
                    double m = median(mine);
                    row.append(String.format(Locale.ROOT, " %16s %10s",
                            String.format(Locale.ROOT, "%.0f (%d)", m, mine.size()),
                            ref.isEmpty() ? "" : String.format(Locale.ROOT, "%.2fx", m / median(ref))));
                }
                System.out.println(row);
            }
        }

        static List<Double> of(List<Double> rates, List<String> states, String st) {
            List<Double> out = new ArrayList<>();
            for (int j = 0; j < rates.size(); j++) {
                if (st.equals(states.get(j))) {
                    out.add(rates.get(j));
                }
            }
            return out;
        }

        static double median(List<Double> v) {
            List<Double> s = new ArrayList<>(v);
            Collections.sort(s);
            return s.get(s.size() / 2);
        }
    }

    static void header() {
        System.out.printf(Locale.ROOT, "%-26s %8s %10s %19s %10s%n", "transport", "chunk", "MiB/s", "(min - max)",
                "vs socket");
    }

    /** One row per transport: median, range, and the median's ratio to row {@code base}'s. */
    static void table(String[] names, List<List<Double>> rates, int chunk, int base) {
        double[] med = new double[names.length];
        for (int i = 0; i < names.length; i++) {
            List<Double> r = new ArrayList<>(rates.get(i));
            Collections.sort(r);
            med[i] = r.get(r.size() / 2);
        }
        for (int i = 0; i < names.length; i++) {
            List<Double> r = rates.get(i);
            System.out.printf(Locale.ROOT, "%-26s %8s %10.0f %19s %9.2fx%n", names[i],
                    chunk == 1 << 20 ? "1 MiB" : "64 KiB", med[i],
                    String.format(Locale.ROOT, "(%.0f - %.0f)", Collections.min(r), Collections.max(r)),
                    med[i] / med[base]);
        }
    }

    static String benchSource() {
        String src = System.getProperty("faasin.bench.source");
        return src != null ? src : Path.of("benches", "java", "FaasinBench.java").toString();
    }

    /**
     * The child: reads to EOF, printing "seg" and its JIT time so far (ms)
     * after every segment of total bytes.
     */
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
                // Borrowed and given back without reading them (as the Python and
                // Node benches' borrow rows): what the ring costs with no copy.
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
                System.out.println("seg " + java.lang.management.ManagementFactory.getCompilationMXBean()
                        .getTotalCompilationTime());
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
            CompletableFuture<Void> f = writeAsync(w, total, chunk);
            byte[] b = new byte[chunk];
            long got = 0;
            for (int n; (n = r.read(b)) > 0; ) {
                got += n;
            }
            f.join();
            check(got, total);
        }
    }

    /** Writes total bytes to w from a byte[] of chunk, on a thread of its own, then closes w. */
    static CompletableFuture<Void> writeAsync(FaasinOutputStream w, long total, int chunk) {
        return async(() -> {
            byte[] b = new byte[chunk];
            try (w) {
                for (long left = total; left > 0; left -= chunk) {
                    w.write(b, 0, (int) Math.min(chunk, left));
                }
            }
        });
    }

    /** The writer as in faasinStream; the reader uses the bytes in the ring and copies nothing. */
    static void faasinBorrow(long total, int chunk) throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            CompletableFuture<Void> f = writeAsync(w, total, chunk);
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
