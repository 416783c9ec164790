package io.faasin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Native failures become the right Java exceptions, never a crash. */
class ErrorsTest {
    @Test
    void theseTestsRunUnderCheckJni() {
        // -Xcheck:jni (surefire argLine) makes the JVM verify every JNI call
        // of the native library; make sure the tests do not silently lose it.
        assertTrue(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
                .contains("-Xcheck:jni"));
    }

    @Test
    void aRustPanicBecomesAJavaException() {
        FaasinPanicException e = assertThrows(FaasinPanicException.class, NativeTestHooks::selfTestPanic);
        assertTrue(e.getMessage().contains("self-test panic"), e.getMessage());
        // The JVM and the library go on working.
        assertThrows(FaasinPanicException.class, NativeTestHooks::selfTestPanic);
    }

    @Test
    void badFdsAreReported() throws Exception {
        FaasinBadFdException e = assertThrows(FaasinBadFdException.class, () -> FaasinInputStream.fromFd(100_000));
        assertTrue(e.getMessage().contains("100000"), e.getMessage());
        try (FaasinPipe p = Faasin.pipe(4096)) {
            // The read end opened as a writer: refused, and the pipe's own fd stays usable.
            FaasinBadFdException wrong = assertThrows(FaasinBadFdException.class,
                    () -> FaasinOutputStream.fromFd(p.readFd()));
            assertTrue(wrong.getMessage().contains("read end"), wrong.getMessage());
            try (FaasinInputStream r = FaasinInputStream.fromFd(p.readFd())) {
                p.writer().write(9);
                assertEquals(9, r.read());
            }
        }
    }

    @Test
    void openingAnEndpointTwiceIsRefused() throws Exception {
        try (FaasinPipe p = Faasin.pipe(4096)) {
            int fd = p.readFd();
            try (FaasinInputStream r = FaasinInputStream.fromFd(fd)) {
                assertTrue(r.isRing());
                // The hello was taken off the socket: a second open is not a FAASIN end any more.
                assertThrows(FaasinCorruptedRingException.class, () -> FaasinInputStream.fromFd(fd));
            }
        }
    }

    /** Overwrites write_pos in the shared header, as a hostile writer could. */
    @Test
    void aCorruptedRingIsAnIOExceptionNotACrash() throws Exception {
        List<String> before = TestSupport.ringMaps();
        try (FaasinPipe p = Faasin.pipe(4096)) {
            FaasinInputStream r = p.reader();
            p.writer().write(new byte[10]);
            List<String> added = new ArrayList<>(TestSupport.ringMaps());
            added.removeAll(before);
            String header = added.stream()
                    .filter(l -> l.split("\\s+")[2].equals("00000000"))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no ring header mapping in " + added));
            long addr = Long.parseUnsignedLong(header.substring(0, header.indexOf('-')), 16);
            try (RandomAccessFile mem = new RandomAccessFile("/proc/self/mem", "rw")) {
                mem.seek(addr + 128); // WriterLine.write_pos
                mem.write(new byte[] {0, 0, 0, 0, 0, 0, 0, 0x10});
            }
            FaasinCorruptedRingException e = assertThrows(FaasinCorruptedRingException.class,
                    () -> r.read(new byte[100]));
            assertTrue(e.getMessage().contains("write_pos") || e.getMessage().contains("corrupt"), e.getMessage());
            assertTrue(e instanceof IOException);
        }
    }
}
