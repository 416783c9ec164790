package io.faasin;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Pipes, ends and views dropped without close are reclaimed by the GC. */
@Timeout(120)
class GcTest {
    @Test
    void tenThousandDroppedPipesLeakNoFdAndNoMapping() throws Exception {
        Faasin.pipe(4096).close(); // loads the library and its fds first
        TestSupport.settle();
        long fds = TestSupport.openFds();
        int maps = TestSupport.ringMaps().size();
        long peakFds = 0;
        for (int i = 0; i < 10_000; i++) {
            FaasinPipe p = Faasin.pipe(4096);
            switch (i % 4) {
                case 0: // both ends unopened
                    break;
                case 1: // both ends opened
                    p.reader();
                    p.writer().write(i);
                    break;
                case 2: { // dropped with a borrowed view outstanding
                    p.writer().write(new byte[100]);
                    ByteBuffer v = p.reader().borrow();
                    assertTrue(v.remaining() == 100);
                    break;
                }
                default: // dropped with a reserved view outstanding
                    p.writer().reserve(64).put((byte) 1);
                    p.reader();
                    break;
            }
            if (i % 500 == 499) {
                // Cleaners run after a GC; without one, 10 000 pipes would
                // hold 20 000 fds, above this machine's limit.
                peakFds = Math.max(peakFds, TestSupport.openFds());
                System.gc();
            }
        }
        assertTrue(peakFds > fds, "the pipes did hold fds while reachable");
        long deadline = System.nanoTime() + 30_000_000_000L;
        while ((TestSupport.openFds() > fds || TestSupport.ringMaps().size() > maps)
                && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
        }
        long fdsAfter = TestSupport.openFds();
        int mapsAfter = TestSupport.ringMaps().size();
        assertTrue(fdsAfter <= fds, "fd leak: " + fds + " open before, " + fdsAfter + " after");
        assertTrue(mapsAfter <= maps, "mapping leak: " + maps + " ring mappings before, " + mapsAfter + " after");
    }
}
