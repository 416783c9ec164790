package io.faasin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The NIO channels, with direct, heap and read-only buffers. */
@Timeout(60)
class ChannelTest {
    @Test
    void directAndHeapBuffersRoundTrip() throws Exception {
        try (FaasinPipe p = Faasin.pipe(1 << 16)) {
            WritableByteChannel out = p.writer().channel();
            ReadableByteChannel in = p.reader().channel();
            byte[] data = new byte[1_000_000];
            new TestSupport.Pattern(5).fill(data, 0, data.length);
            CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
                try (out) {
                    ByteBuffer direct = ByteBuffer.allocateDirect(100_000);
                    int off = 0;
                    while (off < 500_000) {
                        direct.clear();
                        direct.put(data, off, 100_000).flip();
                        assertEquals(100_000, out.write(direct));
                        assertFalse(direct.hasRemaining());
                        off += 100_000;
                    }
                    ByteBuffer heap = ByteBuffer.wrap(data, 500_000, 250_000);
                    assertEquals(250_000, out.write(heap));
                    ByteBuffer ro = ByteBuffer.wrap(data, 750_000, 250_000).asReadOnlyBuffer();
                    assertEquals(250_000, out.write(ro));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] got = new byte[data.length];
            int n = 0;
            ByteBuffer direct = ByteBuffer.allocateDirect(7777);
            ByteBuffer heap = ByteBuffer.allocate(9999);
            boolean useDirect = true;
            for (;;) {
                ByteBuffer b = useDirect ? direct : heap;
                useDirect = !useDirect;
                b.clear();
                int k = in.read(b);
                if (k < 0) {
                    break;
                }
                assertEquals(k, b.position());
                b.flip();
                b.get(got, n, k);
                n += k;
            }
            w.get(30, TimeUnit.SECONDS);
            assertEquals(data.length, n);
            assertArrayEquals(data, got);
            // A sliced direct buffer reads at its own position.
            ByteBuffer sliced = ByteBuffer.allocateDirect(64).position(10).slice();
            assertEquals(-1, in.read(sliced));
        }
    }

    @Test
    void closedChannelsAndBadBuffers() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        ReadableByteChannel in = p.reader().channel();
        WritableByteChannel out = p.writer().channel();
        assertTrue(in.isOpen());
        assertThrows(IllegalArgumentException.class, () -> in.read(ByteBuffer.allocate(4).asReadOnlyBuffer()));
        assertEquals(0, in.read(ByteBuffer.allocate(0)));
        out.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        ByteBuffer dst = ByteBuffer.allocateDirect(16).position(4);
        assertEquals(3, in.read(dst));
        assertEquals(7, dst.position());
        assertEquals(3, dst.get(6));
        in.close();
        assertFalse(in.isOpen());
        assertThrows(ClosedChannelException.class, () -> in.read(ByteBuffer.allocate(4)));
        assertThrows(FaasinBrokenPipeException.class, () -> out.write(ByteBuffer.allocateDirect(4)));
        out.close();
        assertThrows(ClosedChannelException.class, () -> out.write(ByteBuffer.allocate(4)));
    }
}
