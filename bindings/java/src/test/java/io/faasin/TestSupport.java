package io.faasin;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.Pipe;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Helpers shared by the tests: test data, hashes, /proc counts, child JVMs. */
final class TestSupport {
    private TestSupport() {}

    /** Deterministic bytes (xorshift64, as the Rust peer makes them). */
    static final class Pattern {
        private long state;

        Pattern(long seed) {
            state = Math.max(1, seed);
        }

        void fill(byte[] b, int off, int len) {
            for (int i = 0; i < len; i += 8) {
                state ^= state << 13;
                state ^= state >>> 7;
                state ^= state << 17;
                long s = state;
                for (int k = 0; k < 8 && i + k < len; k++) {
                    b[off + i + k] = (byte) (s >>> (8 * k));
                }
            }
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static String hex(byte[] d) {
        StringBuilder sb = new StringBuilder();
        for (byte b : d) {
            sb.append(String.format("%02x", b & 0xff));
        }
        return sb.toString();
    }

    static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    /**
     * A {@link Pipe}, which is a pipe(2) on Linux, with the numbers of its
     * two fds: the JDK keeps them to itself, so they are found in /proc as
     * the pipe fds that opening it added.
     */
    static final class OsPipe implements Closeable {
        final Pipe pipe;
        final int readFd;
        final int writeFd;

        OsPipe() throws IOException {
            Set<Integer> before = pipeFds();
            pipe = Pipe.open();
            int r = -1;
            int w = -1;
            for (int fd : pipeFds()) {
                if (before.contains(fd)) {
                    continue;
                }
                // The access mode, the low two bits of the octal flags.
                String flags = Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd)).stream()
                        .filter(l -> l.startsWith("flags:"))
                        .findFirst()
                        .orElseThrow();
                if ((Integer.parseInt(flags.substring(6).trim(), 8) & 3) == 0) {
                    r = fd;
                } else {
                    w = fd;
                }
            }
            if (r < 0 || w < 0) {
                throw new AssertionError("the fds of a new java.nio Pipe are not in /proc/self/fd");
            }
            readFd = r;
            writeFd = w;
        }

        private static Set<Integer> pipeFds() throws IOException {
            Set<Integer> fds = new HashSet<>();
            try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
                for (Path p : d) {
                    try {
                        if (Files.readSymbolicLink(p).toString().startsWith("pipe:")) {
                            fds.add(Integer.parseInt(p.getFileName().toString()));
                        }
                    } catch (IOException closedMeanwhile) {
                        // Not one of ours.
                    }
                }
            }
            return fds;
        }

        @Override
        public void close() throws IOException {
            pipe.source().close();
            pipe.sink().close();
        }
    }

    static List<String> ringMaps() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.contains("faasin-ring"))
                .collect(Collectors.toList());
    }

    /** Collects garbage until the counts stop falling (Cleaners run after GC). */
    static void settle() throws Exception {
        long last = -1;
        for (int stable = 0, i = 0; stable < 3 && i < 100; i++) {
            System.gc();
            Thread.sleep(30);
            long now = openFds() + ringMaps().size();
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
    }

    interface Call {
        void run() throws Exception;
    }

    /**
     * Runs {@code call} in a new thread, checks that it blocks, interrupts
     * the thread, and returns what the call threw once it ended, which must
     * be within 2 s.
     */
    static Throwable interruptWhileBlocked(Call call) throws InterruptedException {
        AtomicReference<Throwable> got = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                call.run();
            } catch (Throwable e) {
                got.set(e);
            }
        });
        t.start();
        Thread.sleep(200);
        if (!t.isAlive()) {
            throw new AssertionError("the call should block, but it ended with " + got.get());
        }
        long start = System.nanoTime();
        t.interrupt();
        t.join(5000);
        if (t.isAlive() || System.nanoTime() - start > 2_000_000_000L) {
            throw new AssertionError("an interrupt did not end the blocked call within 2 s");
        }
        return got.get();
    }

    interface Check {
        boolean ok() throws Exception;
    }

    /** Collects garbage until {@code check} holds or 20 s passed; returns the last result. */
    static boolean gcUntil(Check check) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!check.ok()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            System.gc();
            Thread.sleep(50);
        }
        return true;
    }

    static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** A child JVM running {@link TestChild} with the given arguments. */
    static ProcessBuilder childJvm(String... args) {
        String cp = System.getProperty("faasin.test.classpath");
        if (cp == null) {
            throw new AssertionError("faasin.test.classpath is not set (run the tests with Maven)");
        }
        List<String> cmd = new java.util.ArrayList<>(List.of(javaBin(), "-Xcheck:jni", "-cp", cp, TestChild.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
    }

    /** The shell command that runs {@link TestChild} with {@code args}, for a chain. */
    static String childCommand(String... args) {
        String cp = System.getProperty("faasin.test.classpath");
        if (cp == null) {
            throw new AssertionError("faasin.test.classpath is not set (run the tests with Maven)");
        }
        StringBuilder sb = new StringBuilder();
        for (String a : List.of(javaBin(), "-Xcheck:jni", "-cp", cp, TestChild.class.getName())) {
            sb.append('\'').append(a.replace("'", "'\\''")).append("' ");
        }
        for (String a : args) {
            sb.append(a).append(' ');
        }
        return sb.toString().trim();
    }

    /** The runner (cli/, `faasin`), built by test.sh. */
    static String cli() {
        String p = System.getProperty("faasin.cli");
        if (p == null || !Files.isExecutable(Path.of(p))) {
            throw new AssertionError("faasin runner not found at " + p
                    + "; build it: cargo build --release -p faasin-cli");
        }
        return p;
    }

    /** The Rust test peer (core/examples/peer.rs), built by test.sh. */
    static ProcessBuilder peer(String... args) {
        String p = System.getProperty("faasin.peer");
        if (p == null || !Files.isExecutable(Path.of(p))) {
            throw new AssertionError("Rust peer not found at " + p
                    + "; build it: cargo build --release -p faasin --example peer");
        }
        List<String> cmd = new java.util.ArrayList<>(List.of(p));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
    }
}
