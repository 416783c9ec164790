package io.faasin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streams between this JVM and child processes: a second JVM, and the Rust
 * peer (core/examples/peer.rs). Children get their ends through the handoff
 * socket (FAASIN_SOCKET), since a JVM cannot let a child inherit an fd.
 */
@Timeout(180)
class CrossProcessTest {
    static final long BIG = 256L << 20;
    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    FaasinHandoffServer server;
    Process child;

    @BeforeEach
    void listen() throws IOException {
        server = FaasinHandoffServer.listen(dir.resolve("handoff.sock"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        if (child != null && child.isAlive()) {
            child.destroyForcibly().waitFor();
        }
        server.close();
    }

    Process start(ProcessBuilder pb, String token, FaasinPipe input, FaasinPipe output) throws IOException {
        server.configure(pb, token);
        child = pb.start();
        server.serve(token, input, output, WAIT);
        return child;
    }

    static String outputOf(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "child failed; its stdout: " + out);
        return out;
    }

    /** Writes BIG pattern bytes and returns "BYTES SHA256" of what was written. */
    static String writePattern(FaasinOutputStream w, long seed) throws IOException {
        TestSupport.Pattern pat = new TestSupport.Pattern(seed);
        MessageDigest md = TestSupport.sha256();
        byte[] buf = new byte[64 * 1024];
        try (w) {
            for (long left = BIG; left > 0; left -= buf.length) {
                pat.fill(buf, 0, buf.length);
                w.write(buf);
                md.update(buf);
            }
        }
        return BIG + " " + TestSupport.hex(md.digest());
    }

    static String readAll(FaasinInputStream r) throws IOException {
        MessageDigest md = TestSupport.sha256();
        byte[] buf = new byte[256 * 1024];
        long total = 0;
        try (r) {
            for (int n; (n = r.read(buf)) > 0; ) {
                md.update(buf, 0, n);
                total += n;
            }
        }
        return total + " " + TestSupport.hex(md.digest());
    }

    @Test
    void roundTripThroughASecondJvm() throws Exception {
        FaasinPipe there = Faasin.pipe();
        FaasinPipe back = Faasin.pipe();
        start(TestSupport.childJvm("echo"), "echo", there, back);
        assertEquals(-1, there.readFd(), "the child's ends left this process");
        CompletableFuture<String> sent = CompletableFuture.supplyAsync(() -> {
            try {
                return writePattern(there.writer(), 42);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        String received = readAll(back.reader());
        assertEquals(sent.get(60, TimeUnit.SECONDS), received);
        assertEquals(String.valueOf(BIG), outputOf(child));
    }

    @Test
    void rustPeerWritesToThisJvm() throws Exception {
        FaasinPipe p = Faasin.pipe();
        start(TestSupport.peer("write", String.valueOf(BIG), "9"), "w", null, p);
        String received = readAll(p.reader());
        assertEquals(outputOf(child), received);
        assertTrue(received.startsWith(BIG + " "));
    }

    @Test
    void thisJvmWritesToTheRustPeer() throws Exception {
        FaasinPipe p = Faasin.pipe();
        start(TestSupport.peer("read"), "r", p, null);
        String sent = writePattern(p.writer(), 77);
        assertEquals(sent, outputOf(child));
    }

    @Test
    void killedReaderMeansBrokenPipe() throws Exception {
        FaasinPipe p = Faasin.pipe(1 << 16);
        start(TestSupport.peer("read"), "r", p, null);
        FaasinOutputStream w = p.writer();
        w.write(new byte[100_000]);
        child.destroyForcibly();
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        FaasinBrokenPipeException e = assertThrows(FaasinBrokenPipeException.class, () -> {
            byte[] buf = new byte[1 << 16];
            for (int i = 0; i < 1000; i++) {
                w.write(buf);
            }
        });
        assertTrue(e.getMessage().startsWith("Broken pipe"), e.getMessage());
        w.close();
    }

    @Test
    void killedWriterMeansEofAfterItsBytes() throws Exception {
        FaasinPipe p = Faasin.pipe(1 << 16);
        start(TestSupport.peer("write", String.valueOf(64L << 30)), "w", null, p);
        FaasinInputStream r = p.reader();
        byte[] buf = new byte[1 << 16];
        assertTrue(r.readNBytes(buf, 0, buf.length) == buf.length);
        child.destroyForcibly();
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        long rest = 0;
        for (int n; (n = r.read(buf)) > 0; ) {
            rest += n;
        }
        assertTrue(rest <= 1 << 16, "at most one ring of leftovers: " + rest);
        assertEquals(-1, r.read());
        r.close();
    }

    /** A function run in a shell pipeline: Faasin.in on a plain pipe (the fd fallback). */
    @Test
    void faasinInFallsBackToAPlainPipe() throws Exception {
        ProcessBuilder pb = TestSupport.childJvm("read");
        pb.environment().put("FAASIN_FD", "0");
        child = pb.start();
        TestSupport.Pattern pat = new TestSupport.Pattern(5);
        MessageDigest md = TestSupport.sha256();
        byte[] buf = new byte[100_000];
        try (java.io.OutputStream toChild = child.getOutputStream()) {
            for (int i = 0; i < 50; i++) {
                pat.fill(buf, 0, buf.length);
                toChild.write(buf);
                md.update(buf);
            }
        }
        assertEquals("5000000 " + TestSupport.hex(md.digest()), outputOf(child));
    }

    @Test
    void aWrongTokenIsRefused() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        ProcessBuilder pb = TestSupport.peer("read");
        server.configure(pb, "wrong");
        child = pb.redirectError(ProcessBuilder.Redirect.PIPE).start();
        try (FaasinHandoffServer.Request r = server.accept(WAIT)) {
            assertEquals("wrong", r.token());
            r.refuse("unknown token");
        }
        String err = new String(child.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        assertEquals(1, child.exitValue());
        assertTrue(err.contains("refused") && err.contains("unknown token"), err);
        assertTrue(p.readFd() >= 0, "a refused request takes no end");
        p.close();
    }
}
