package io.faasin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** setTimeout on the ring and on the plain-fd fallback; waits there stay interruptible. */
@Timeout(60)
class TimeoutTest {
    private static final Duration TIMEOUT = Duration.ofMillis(300);

    /** Runs {@code op}, which must time out after about {@link #TIMEOUT}. */
    private static SocketTimeoutException timesOut(String what, TestSupport.Call op) {
        long start = System.nanoTime();
        SocketTimeoutException e = assertThrows(SocketTimeoutException.class, op::run, what);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= TIMEOUT.toMillis() - 20 && ms < 5_000, what + " timed out after " + ms + " ms");
        assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        return e;
    }

    @Test
    void aReadTimesOutOnAPlainPipeAndTheStreamGoesOn() throws Exception {
        try (TestSupport.OsPipe os = new TestSupport.OsPipe();
                FaasinInputStream r = FaasinInputStream.fromFd(os.readFd)) {
            assertFalse(r.isRing());
            r.setTimeout(TIMEOUT);
            timesOut("read", r::read);
            timesOut("borrow", r::borrow);
            os.pipe.sink().write(ByteBuffer.wrap(new byte[] {7}));
            assertEquals(7, r.read());
        }
    }

    @Test
    void aWriteTimesOutOnAFullPlainPipe() throws Exception {
        try (TestSupport.OsPipe os = new TestSupport.OsPipe();
                FaasinOutputStream w = FaasinOutputStream.fromFd(os.writeFd)) {
            w.setTimeout(TIMEOUT);
            // Larger than any pipe buffer: it fills the pipe, then waits.
            SocketTimeoutException e = timesOut("write", () -> w.write(new byte[4 << 20]));
            assertTrue(e.bytesTransferred > 0 && e.bytesTransferred < 4 << 20, String.valueOf(e.bytesTransferred));
        }
    }

    @Test
    void aBorrowAndAReadTimeOutOnARingUntilDataComes() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinInputStream r = p.reader();
            r.setTimeout(TIMEOUT);
            timesOut("borrow", r::borrow);
            timesOut("read", () -> r.read(new byte[16]));
            p.writer().write(new byte[] {1, 2, 3});
            ByteBuffer view = r.borrow();
            assertEquals(3, view.remaining());
            r.release(3);
            r.setTimeout(null);
        }
    }

    @Test
    void aTimeoutMustBePositive() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinInputStream r = p.reader();
            assertThrows(IllegalArgumentException.class, () -> r.setTimeout(Duration.ZERO));
            assertThrows(IllegalArgumentException.class, () -> r.setTimeout(Duration.ofMillis(-1)));
        }
    }

    @Test
    void aBlockedReadOnAPlainPipeIsInterruptible() throws Exception {
        try (TestSupport.OsPipe os = new TestSupport.OsPipe();
                FaasinInputStream r = FaasinInputStream.fromFd(os.readFd)) {
            Throwable got = TestSupport.interruptWhileBlocked(r::read);
            assertTrue(got instanceof InterruptedIOException, String.valueOf(got));
        }
    }

    @Test
    void closedStreamsRefuseATimeout() throws IOException {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinInputStream r = p.reader();
            r.close();
            assertThrows(IOException.class, () -> r.setTimeout(TIMEOUT));
        }
    }
}
