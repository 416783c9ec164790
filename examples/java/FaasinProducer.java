import io.faasin.Faasin;
import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;

/**
 * A FAASIN function that produces records: "id,value" text lines on its
 * faasout. Its return value (stdout, JSON) says how many and their sum, so
 * a chain can check what the consumer got.
 *
 * <pre>java -cp faasin.jar FaasinProducer.java [RECORDS]</pre>
 */
public class FaasinProducer {
    public static void main(String[] args) throws Exception {
        int records = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
        long sum = 0;
        try (Writer out = new BufferedWriter(new OutputStreamWriter(Faasin.out, StandardCharsets.UTF_8), 1 << 16)) {
            for (int id = 0; id < records; id++) {
                long value = (id * 2654435761L) % 1000;
                out.write(id + "," + value + "\n");
                sum += value;
            }
        }
        System.out.println("{\"records\": " + records + ", \"sum\": " + sum + "}");
    }
}
