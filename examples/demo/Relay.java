import io.faasin.Faasin;

/**
 * The Java stage of the demo chain: forwards its faasin to its faasout in
 * 1 MiB reads and returns (stdout, JSON) how many bytes went through.
 *
 * <pre>java -cp faasin.jar Relay.java</pre>
 */
public class Relay {
    public static void main(String[] args) throws Exception {
        byte[] buf = new byte[1 << 20];
        long total = 0;
        for (int n; (n = Faasin.in.read(buf)) > 0; ) {
            Faasin.out.write(buf, 0, n);
            total += n;
        }
        Faasin.out.close();
        System.out.println("{\"bytes\": " + total + "}");
    }
}
