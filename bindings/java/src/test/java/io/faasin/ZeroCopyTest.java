package io.faasin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** borrow/release and reserve/commit, and the guards around their views. */
@Timeout(60)
class ZeroCopyTest {
    @Test
    void borrowSeesTheBytesInPlaceAndReleaseFreesThem() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            w.write("abcdef".getBytes(StandardCharsets.US_ASCII));
            ByteBuffer v = r.borrow();
            assertTrue(v.isDirect() && v.isReadOnly());
            assertEquals(6, v.remaining());
            assertEquals('a', v.get(0));
            assertEquals('f', v.get(5));
            assertThrows(ReadOnlyBufferException.class, () -> v.put(0, (byte) 1));
            r.release(2);
            // The unreleased rest starts the next borrow.
            ByteBuffer v2 = r.borrow();
            assertEquals(4, v2.remaining());
            assertEquals('c', v2.get(0));
            r.release(4);
            assertEquals(0, r.available());
        }
    }

    @Test
    void reserveThenCommitPublishesOnlyTheCommittedBytes() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            ByteBuffer v = w.reserve(100);
            assertTrue(v.isDirect() && !v.isReadOnly());
            assertEquals(4096, v.capacity(), "an empty ring reserves all its space");
            v.put("xyz123".getBytes(StandardCharsets.US_ASCII));
            assertEquals(0, r.available(), "nothing is visible before commit");
            w.commit(3);
            assertEquals(3, r.available());
            byte[] b = new byte[10];
            assertEquals(3, r.read(b));
            assertEquals("xyz", new String(b, 0, 3, StandardCharsets.US_ASCII));
            ByteBuffer v2 = w.reserve(1);
            w.commit(0); // abandon
            assertEquals(0, r.available());
            assertTrue(v2.capacity() > 0);
        }
    }

    @Test
    void borrowAtEofIsEmptyAndNeedsNoRelease() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            p.writer().close();
            ByteBuffer v = p.reader().borrow();
            assertEquals(0, v.remaining());
            p.reader().close();
        }
    }

    @Test
    void misuseIsRefusedWithClearExceptions() throws Exception {
        FaasinPipe p = Faasin.pipe(4096);
        FaasinOutputStream w = p.writer();
        FaasinInputStream r = p.reader();
        w.write(new byte[10]);
        assertThrows(IllegalStateException.class, () -> r.release(1), "release without borrow");
        ByteBuffer v = r.borrow();
        IllegalStateException closing = assertThrows(IllegalStateException.class, r::close);
        assertTrue(closing.getMessage().contains("outstanding"), closing.getMessage());
        assertThrows(IllegalStateException.class, r::read);
        assertThrows(IllegalStateException.class, r::borrow);
        assertThrows(IllegalStateException.class, () -> r.channel().read(ByteBuffer.allocateDirect(4)));
        assertThrows(IllegalArgumentException.class, () -> r.release(11));
        assertThrows(IllegalArgumentException.class, () -> r.release(-1));
        r.release(10);
        assertEquals(10, v.capacity());

        ByteBuffer wv = w.reserve(8);
        assertThrows(IllegalStateException.class, w::close);
        assertThrows(IllegalStateException.class, () -> w.write(1));
        assertThrows(IllegalStateException.class, () -> w.reserve(1));
        assertThrows(IllegalArgumentException.class, () -> w.commit(wv.capacity() + 1));
        w.commit(0);
        assertThrows(IllegalStateException.class, () -> w.commit(1), "commit without reserve");
        assertThrows(IllegalArgumentException.class, () -> w.reserve(8192), "more than the capacity");
        r.close();
        w.close();
    }

    @Test
    void viewsOutliveTheirEndsWithoutCrashing() throws Exception {
        TestSupport.settle();
        int base = TestSupport.ringMaps().size();
        FaasinPipe p = Faasin.pipe(4096);
        FaasinOutputStream w = p.writer();
        FaasinInputStream r = p.reader();
        w.write("keep me".getBytes(StandardCharsets.US_ASCII));
        ByteBuffer borrowed = r.borrow();
        // Only a slice of the view stays reachable; it must keep the ring mapped.
        ByteBuffer slice = borrowed.slice(5, 2);
        borrowed = null;
        r.release(7);
        ByteBuffer reserved = w.reserve(16);
        w.commit(0);
        r.close();
        w.close();
        p.close();
        p = null;
        r = null;
        w = null;
        TestSupport.settle();
        assertTrue(TestSupport.ringMaps().size() > base, "the views keep the ring mapped");
        // Reading and writing the stale views is meaningless but safe.
        assertEquals('m', slice.get(0));
        reserved.put(0, (byte) 1);
        reserved.putLong(8, 42);
        assertEquals(42, reserved.getLong(8));
        slice = null;
        reserved = null;
        assertTrue(TestSupport.gcUntil(() -> TestSupport.ringMaps().size() <= base),
                "the ring is unmapped once its views are gone");
        assertEquals(base, TestSupport.ringMaps().size());
    }

    @Test
    void zeroCopyRoundTripThroughAPipe() throws Exception {
        try (FaasinPipe p = Faasin.pipe(1 << 16)) {
            FaasinOutputStream w = p.writer();
            FaasinInputStream r = p.reader();
            long total = 5_000_000;
            Thread producer = new Thread(() -> {
                try {
                    long left = total;
                    long i = 0;
                    while (left > 0) {
                        ByteBuffer v = w.reserve(1);
                        int n = (int) Math.min(v.remaining(), left);
                        for (int k = 0; k < n; k++) {
                            v.put(k, (byte) (i + k));
                        }
                        w.commit(n);
                        i += n;
                        left -= n;
                    }
                    w.close();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            producer.start();
            long seen = 0;
            for (;;) {
                ByteBuffer v = r.borrow();
                int n = v.remaining();
                if (n == 0) {
                    break;
                }
                for (int k = 0; k < n; k++) {
                    if (v.get(k) != (byte) (seen + k)) {
                        throw new AssertionError("byte " + (seen + k));
                    }
                }
                r.release(n);
                seen += n;
            }
            producer.join();
            assertEquals(total, seen);
            assertFalse(producer.isAlive());
        }
    }
}
