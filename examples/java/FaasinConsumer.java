import io.faasin.Faasin;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * A FAASIN function that consumes the producer's "id,value" lines from its
 * faasin and returns (stdout, JSON) how many it read and their sum.
 *
 * <pre>java -cp faasin.jar FaasinConsumer.java</pre>
 */
public class FaasinConsumer {
    public static void main(String[] args) throws Exception {
        long records = 0;
        long sum = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Faasin.in, StandardCharsets.UTF_8), 1 << 16)) {
            for (String line; (line = in.readLine()) != null; ) {
                int comma = line.indexOf(',');
                if (comma < 0 || Long.parseLong(line.substring(0, comma)) != records) {
                    throw new IllegalStateException("record " + records + " is malformed or out of order: " + line);
                }
                sum += Long.parseLong(line.substring(comma + 1));
                records++;
            }
        }
        System.out.println("{\"records\": " + records + ", \"sum\": " + sum + "}");
    }
}
