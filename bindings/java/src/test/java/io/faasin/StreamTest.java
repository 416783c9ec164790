package io.faasin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** InputStream / OutputStream behaviour within one JVM (two threads). */
@Timeout(60)
class StreamTest {
    @Test
    void bytesArriveInOrderAndEofFollowsClose() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            assertTrue(r.isRing() && w.isRing());
            assertEquals(4096, r.capacity());
            w.write("hello".getBytes(StandardCharsets.UTF_8));
            w.write('!');
            assertEquals(6, r.available());
            byte[] b = new byte[16];
            assertEquals(6, r.read(b));
            assertEquals("hello!", new String(b, 0, 6, StandardCharsets.UTF_8));
            w.write(42);
            w.close();
            assertEquals(42, r.read());
            assertEquals(-1, r.read());
            assertEquals(-1, r.read(b, 0, 16));
            assertEquals(0, r.read(b, 0, 0));
        }
    }

    @Test
    void largeTransferThroughASmallRingKeepsEveryByte() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        FaasinOutputStream w = p.writer();
        FaasinInputStream r = p.reader();
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new TestSupport.Pattern(7).fill(data, 0, data.length);
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try (w) {
                w.write(data);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        byte[] got = r.readAllBytes();
        writer.get(30, TimeUnit.SECONDS);
        assertArrayEquals(data, got);
        r.close();
    }

    /**
     * Every array offset mod 64, for heap arrays and direct buffers: the
     * native copy takes a backward path when the destination lies just past
     * the source modulo 4 KiB and memcpy otherwise; both must move exactly
     * the bytes asked for and touch nothing around them.
     */
    @Test
    void copiesAtEveryOffsetKeepEveryByteAndTouchNothingElse() throws Exception {
        try (FaasinPipe p = Faasin.pipe(1 << 16)) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            byte[] src = new byte[40_000 + 64];
            new TestSupport.Pattern(11).fill(src, 0, src.length);
            byte[] dst = new byte[40_000 + 128];
            java.nio.ByteBuffer direct = java.nio.ByteBuffer.allocateDirect(dst.length);
            for (int off = 0; off < 64; off++) {
                int len = 40_000 - off * 7;
                java.util.Arrays.fill(dst, (byte) 0x5a);
                if (off % 2 == 0) {
                    w.write(src, off, len);
                } else {
                    w.channel().write(directCopy(src, off, len));
                }
                int got = 0;
                if (off % 3 == 0) {
                    direct.clear().position(off + 1).limit(off + 1 + len);
                    while (direct.hasRemaining()) {
                        got += r.channel().read(direct);
                    }
                    direct.position(off + 1).limit(off + 1 + len);
                    direct.get(dst, off + 1, len);
                } else {
                    while (got < len) {
                        got += r.read(dst, off + 1 + got, len - got);
                    }
                }
                assertEquals(len, got);
                assertArrayEquals(java.util.Arrays.copyOfRange(src, off, off + len),
                        java.util.Arrays.copyOfRange(dst, off + 1, off + 1 + len), "offset " + off);
                for (int i = 0; i < dst.length; i++) {
                    if (i < off + 1 || i >= off + 1 + len) {
                        assertEquals((byte) 0x5a, dst[i], "byte " + i + " touched at offset " + off);
                    }
                }
            }
        }
    }

    /** A direct buffer holding {@code src[off, off + len)}. */
    private static java.nio.ByteBuffer directCopy(byte[] src, int off, int len) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(len + 64);
        b.position(off % 64);
        b.put(src, off, len).flip().position(off % 64);
        return b;
    }

    /** The native side checks the range itself: a bad one is an exception, not a stray write. */
    @Test
    void nativeCopiesRefuseRangesOutsideTheArray() throws Exception {
        long pipe = Native.pipeCreate(4096);
        long rh = Native.pipeOpen(pipe, false);
        long wh = Native.pipeOpen(pipe, true);
        try {
            byte[] b = new byte[100];
            assertThrows(IllegalArgumentException.class, () -> Native.endCopy(wh, 0, b, false, 90, 11));
            assertThrows(IllegalArgumentException.class, () -> Native.endCopy(wh, 0, b, false, -1, 5));
            assertEquals(100, Native.endCopy(wh, 0, b, false, 0, 100));
            assertThrows(IllegalArgumentException.class, () -> Native.endCopy(rh, 0, b, false, 1, 100));
            assertThrows(IllegalArgumentException.class, () -> Native.endCopy(rh, 0, b, false, 0, -1));
            assertEquals(100, Native.endCopy(rh, 0, b, false, 0, 100));
        } finally {
            Native.endClose(rh);
            Native.endClose(wh);
            Native.endFree(rh);
            Native.endFree(wh);
            Native.pipeClose(pipe);
            Native.pipeFree(pipe);
        }
    }

    @Test
    void readNBytesAndTransferTo() throws Exception {
        try (FaasinPipe a = Faasin.pipe(1 << 16); FaasinPipe b = Faasin.pipe(1 << 16)) {
            byte[] data = new byte[50_000];
            new TestSupport.Pattern(3).fill(data, 0, data.length);
            try (FaasinOutputStream w = a.writer()) {
                w.write(data);
            }
            FaasinInputStream r = a.reader();
            byte[] head = r.readNBytes(1000);
            assertArrayEquals(java.util.Arrays.copyOf(data, 1000), head);
            // Ring to ring through a second pipe, then to a heap stream.
            long n = r.transferTo(b.writer());
            assertEquals(49_000, n);
            b.writer().close();
            ByteArrayOutputStream sink = new ByteArrayOutputStream();
            assertEquals(49_000, b.reader().transferTo(sink));
            assertArrayEquals(java.util.Arrays.copyOfRange(data, 1000, 50_000), sink.toByteArray());
        }
    }

    @Test
    void worksWithReadersWritersAndDataStreams() throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            try (BufferedWriter bw = new BufferedWriter(new OutputStreamWriter(p.writer(), StandardCharsets.UTF_8))) {
                for (int i = 0; i < 1000; i++) {
                    bw.write("line " + i + " ünïcødé\n");
                }
            }
            try (BufferedReader br = new BufferedReader(new InputStreamReader(p.reader(), StandardCharsets.UTF_8))) {
                List<String> lines = new ArrayList<>();
                for (String l; (l = br.readLine()) != null; ) {
                    lines.add(l);
                }
                assertEquals(1000, lines.size());
                assertEquals("line 999 ünïcødé", lines.get(999));
            }
        }
        try (FaasinPipe p = Faasin.pipe()) {
            try (DataOutputStream out = new DataOutputStream(p.writer())) {
                out.writeLong(0x1122334455667788L);
                out.writeUTF("faasin");
                out.writeDouble(Math.PI);
            }
            try (DataInputStream in = new DataInputStream(p.reader())) {
                assertEquals(0x1122334455667788L, in.readLong());
                assertEquals("faasin", in.readUTF());
                assertEquals(Math.PI, in.readDouble());
                assertThrows(java.io.EOFException.class, in::readByte);
            }
        }
    }

    @Test
    void carriesSerializedObjects() throws Exception {
        try (FaasinPipe p = Faasin.pipe()) {
            List<Object> sent = List.of("a", 1, List.of(2.5, "b"), new java.util.HashMap<>(java.util.Map.of("k", "v")));
            CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
                try (ObjectOutputStream oos = new ObjectOutputStream(p.writer())) {
                    oos.writeObject(new ArrayList<>(sent));
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (ObjectInputStream ois = new ObjectInputStream(p.reader())) {
                assertEquals(sent, ois.readObject());
            }
            w.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void filesCopyInAndOut(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("src.bin");
        byte[] data = new byte[2_000_000];
        new TestSupport.Pattern(11).fill(data, 0, data.length);
        Files.write(src, data);
        try (FaasinPipe p = Faasin.pipe(1 << 16)) {
            CompletableFuture<Long> w = CompletableFuture.supplyAsync(() -> {
                try (FaasinOutputStream out = p.writer()) {
                    return Files.copy(src, out);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            Path dst = dir.resolve("dst.bin");
            assertEquals(data.length, Files.copy(p.reader(), dst, StandardCopyOption.REPLACE_EXISTING));
            assertEquals(data.length, w.get(10, TimeUnit.SECONDS));
            assertArrayEquals(data, Files.readAllBytes(dst));
        }
    }

    @Test
    void writeAfterReaderClosedIsBrokenPipe() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinOutputStream w = p.writer();
            w.write(new byte[3]); // left unread: flush must report the loss
            p.reader().close();
            FaasinBrokenPipeException e = assertThrows(FaasinBrokenPipeException.class, () -> w.write(new byte[10]));
            assertTrue(e.getMessage().startsWith("Broken pipe"), e.getMessage());
            assertThrows(FaasinBrokenPipeException.class, w::flush);
        }
    }

    @Test
    void blockedWriterSeesBrokenPipeWhenReaderCloses() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        FaasinOutputStream w = p.writer();
        FaasinInputStream r = p.reader();
        CompletableFuture<Throwable> f = CompletableFuture.supplyAsync(() -> {
            try {
                w.write(new byte[1 << 20]); // far more than fits: blocks
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        Thread.sleep(200);
        assertFalse(f.isDone());
        r.close();
        Throwable t = f.get(5, TimeUnit.SECONDS);
        assertTrue(t instanceof FaasinBrokenPipeException, String.valueOf(t));
        w.close();
    }

    @Test
    void closedStreamsRefuseUse() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        FaasinInputStream r = p.reader();
        FaasinOutputStream w = p.writer();
        r.close();
        r.close(); // harmless
        w.close();
        w.close();
        IOException e = assertThrows(IOException.class, r::read);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IOException.class, () -> w.write(1));
        assertThrows(IOException.class, r::available);
        assertEquals(-1, p.readFd());
        assertEquals(-1, p.writeFd());
    }

    @Test
    void blockedReadIsInterruptible() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinInputStream r = p.reader();
            p.writer(); // open but silent
            Throwable got = TestSupport.interruptWhileBlocked(r::read);
            assertTrue(got instanceof InterruptedIOException, String.valueOf(got));
            // The stream still works afterwards.
            p.writer().write(5);
            assertEquals(5, r.read());
        }
    }

    @Test
    void blockedWriteIsInterruptibleAndReportsProgress() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinOutputStream w = p.writer();
            p.reader();
            InterruptedIOException e = (InterruptedIOException) TestSupport.interruptWhileBlocked(
                    () -> w.write(new byte[10_000]));
            assertEquals(4096, e.bytesTransferred);
        }
    }

    @Test
    void closeFromAnotherThreadWakesABlockedReader() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        FaasinInputStream r = p.reader();
        p.writer();
        CompletableFuture<Throwable> f = CompletableFuture.supplyAsync(() -> {
            try {
                r.read();
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        Thread.sleep(100);
        r.close();
        Throwable t = f.get(5, TimeUnit.SECONDS);
        assertTrue(t instanceof IOException && t.getMessage().contains("closed"), String.valueOf(t));
    }

    /** Closing while other threads read, borrow and write never crashes or hangs. */
    @Test
    void closeRacingWithUseIsSafe() throws Exception {
        for (int round = 0; round < 100; round++) {
            FaasinPipe p = Faasin.pipe(4096);
            FaasinInputStream r = p.reader();
            FaasinOutputStream w = p.writer();
            List<Thread> threads = new ArrayList<>();
            threads.add(new Thread(() -> {
                byte[] b = new byte[1000];
                try {
                    for (int i = 0; i < 1000; i++) {
                        w.write(b);
                    }
                } catch (IOException | IllegalStateException expected) {
                    // closed or broken pipe
                }
            }));
            threads.add(new Thread(() -> {
                try {
                    for (int i = 0; i < 1000; i++) {
                        if (i % 2 == 0) {
                            r.read(new byte[300]);
                        } else {
                            java.nio.ByteBuffer v = r.borrow();
                            r.release(Math.min(v.remaining(), 10));
                        }
                    }
                } catch (IOException | IllegalStateException expected) {
                    // closed
                }
            }));
            threads.forEach(Thread::start);
            Thread.sleep(round % 5);
            try {
                r.close();
            } catch (IllegalStateException viewOutstanding) {
                // the reader thread held a view at that instant; close the writer instead
            }
            w.close();
            for (Thread t : threads) {
                t.join(10_000);
                assertFalse(t.isAlive(), "a thread hung after close");
            }
        }
    }

    @Test
    void functionStreamsFailClearlyWithoutAChain() {
        // This JVM was not started by a FAASIN runner: loading the class works,
        // the first use says what is missing.
        IOException e = assertThrows(IOException.class, () -> Faasin.in.read());
        assertTrue(e.getMessage().contains("FAASIN_FD"), e.getMessage());
        IOException e2 = assertThrows(IOException.class, () -> Faasin.out.write(1));
        assertTrue(e2.getMessage().contains("FAASOUT_FD"), e2.getMessage());
    }

    @Test
    void badCapacityIsIllegalArgument() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Faasin.pipe(1000));
        assertTrue(e.getMessage().contains("power of two"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Faasin.pipe(-1));
    }
}
