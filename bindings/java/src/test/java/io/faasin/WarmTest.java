package io.faasin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Warm functions: a JVM that loops over {@link Faasin#invocations()}, run by
 * the real runner ({@code faasin run --warm N}), and the same program run
 * once (not warm).
 */
class WarmTest {
    @TempDir
    Path dir;

    /** Runs `faasin run ARGS...`; returns its exit code. */
    private int runner(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(TestSupport.cli(), "run", "-q"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the runner did not finish");
        return p.exitValue();
    }

    private static List<String> returnValues(String report) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"bytes\":\\s*(\\d+)").matcher(report);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void aWarmJvmServesEveryInvocationWithFreshStreams() throws Exception {
        Path input = dir.resolve("in.txt");
        Path output = dir.resolve("out.txt");
        Path report = dir.resolve("report.json");
        Files.writeString(input, "hello faasin");
        int code = runner("--warm", "3", "-i", input.toString(), "-o", output.toString(),
                "--report", report.toString(), TestSupport.childCommand("warm"));
        String r = Files.readString(report);
        assertEquals(0, code, r);
        assertTrue(r.contains("\"ok\": true"), r);
        // Three invocations, each with the whole input and its return value.
        assertEquals(List.of("12", "12", "12"), returnValues(r), r);
        assertEquals("HELLO FAASIN".repeat(3), Files.readString(output, StandardCharsets.UTF_8));
    }

    @Test
    void anInvocationClosedUnfinishedFailsTheRunAndNamesTheFunction() throws Exception {
        Path input = dir.resolve("in.txt");
        Path report = dir.resolve("report.json");
        Files.writeString(input, "x");
        int code = runner("--warm", "3", "-i", input.toString(), "-o", dir.resolve("out").toString(),
                "--report", report.toString(), TestSupport.childCommand("warm-drop"));
        String r = Files.readString(report);
        assertNotEquals(0, code, r);
        assertTrue(r.contains("\"ok\": false"), r);
        assertTrue(r.contains("invocation 2"), r);
        assertTrue(r.contains("function 1"), r);
    }

    @Test
    void aWarmJvmGetsTheParametersTheRunnerGranted() throws Exception {
        // The Rust peer plays the runner: one invocation per argument ("": none).
        List<String> params = List.of("{\"query\": {\"q\": \"ä 😀\"}}", "", "p".repeat(60_000));
        List<String> args = new ArrayList<>(List.of("runner"));
        args.addAll(params);
        args.add("--");
        args.addAll(TestSupport.childJvm("params").command());
        Process p = TestSupport.peer(args.toArray(new String[0])).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the peer did not finish");
        assertEquals(0, p.exitValue(), out);
        assertEquals(List.of(params.get(0), "<none>", params.get(2)), out.lines().toList());
    }

    @Test
    void aOneShotFunctionTakesItsParametersFromTheEnv() throws Exception {
        String[][] cases = {{null, "<none>"}, {"", "<none>"}, {"{\"a\": \"ü 😀\"}", "{\"a\": \"ü 😀\"}"}};
        for (String[] c : cases) {
            for (String mode : List.of("params", "one-shot-params")) {
                ProcessBuilder pb = TestSupport.childJvm(mode);
                pb.environment().keySet().removeIf(k -> k.startsWith("FAASIN"));
                // Input from the empty stdin; the output stream (unused) on stderr.
                pb.environment().put("FAASIN_FD", "0");
                pb.environment().put("FAASOUT_FD", "2");
                if (c[0] != null) {
                    pb.environment().put("FAASIN_PARAMS", c[0]);
                }
                Process p = pb.start();
                p.getOutputStream().close();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), mode);
                assertEquals(0, p.exitValue(), mode);
                assertEquals(c[1], out, mode + " with " + c[0]);
            }
        }
    }

    @Test
    void notStartedWarmTheLoopRunsOnceAndPrintsTheReturnValue() throws Exception {
        Path input = dir.resolve("in.txt");
        Path output = dir.resolve("out.txt");
        Path report = dir.resolve("report.json");
        Files.writeString(input, "once");
        int code = runner("-i", input.toString(), "-o", output.toString(), "--report", report.toString(),
                TestSupport.childCommand("warm"));
        String r = Files.readString(report);
        assertEquals(0, code, r);
        // The one-shot runner takes a function's stdout as its return value.
        assertEquals(List.of("4"), returnValues(r), r);
        assertEquals("ONCE", Files.readString(output, StandardCharsets.UTF_8));
    }
}
