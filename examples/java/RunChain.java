import io.faasin.Faasin;
import io.faasin.FaasinHandoffServer;
import io.faasin.FaasinPipe;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A tiny runner for the example: connects FaasinProducer's faasout to
 * FaasinConsumer's faasin through one FAASIN stream and prints both return
 * values. Each function is a separate JVM; it receives its stream end from
 * the handoff socket (FAASIN_SOCKET), since a JVM cannot let children
 * inherit fds.
 *
 * <pre>java -cp faasin.jar RunChain.java JAR EXAMPLES_DIR [RECORDS]</pre>
 */
public class RunChain {
    public static void main(String[] args) throws Exception {
        String jar = args[0];
        Path dir = Path.of(args[1]);
        String records = args.length > 2 ? args[2] : "100000";
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path tmp = Files.createTempDirectory("faasin-chain");
        try (FaasinHandoffServer server = FaasinHandoffServer.listen(tmp.resolve("handoff.sock"));
                FaasinPipe stream = Faasin.pipe()) {
            ProcessBuilder producer = new ProcessBuilder(java, "-cp", jar,
                    dir.resolve("FaasinProducer.java").toString(), records);
            ProcessBuilder consumer = new ProcessBuilder(java, "-cp", jar,
                    dir.resolve("FaasinConsumer.java").toString());
            server.configure(producer, "producer");
            server.configure(consumer, "consumer");
            Process p = producer.redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Process c = consumer.redirectError(ProcessBuilder.Redirect.INHERIT).start();
            // Serve whichever asks first; each gets only its own end.
            for (int served = 0; served < 2; served++) {
                try (FaasinHandoffServer.Request r = server.accept(Duration.ofSeconds(60))) {
                    switch (r.token()) {
                        case "producer": r.grant(null, stream); break;
                        case "consumer": r.grant(stream, null); break;
                        default: r.refuse("unknown token"); served--; break;
                    }
                }
            }
            String pOut = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            String cOut = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            boolean done = p.waitFor(60, TimeUnit.SECONDS) & c.waitFor(60, TimeUnit.SECONDS);
            System.out.println("producer: " + pOut + " (exit " + p.exitValue() + ")");
            System.out.println("consumer: " + cOut + " (exit " + c.exitValue() + ")");
            if (!done || p.exitValue() != 0 || c.exitValue() != 0 || !pOut.equals(cOut)) {
                System.err.println("chain FAILED");
                System.exit(1);
            }
            System.out.println("chain OK: the consumer got every record");
        } finally {
            for (Path f : List.of(tmp.resolve("handoff.sock"), tmp)) {
                Files.deleteIfExists(f);
            }
        }
    }
}
