package io.faasin;

import java.io.IOException;
import java.security.MessageDigest;

/**
 * A FAASIN function for the cross-JVM tests; it gets its streams from
 * FAASIN_SOCKET like any function started from Java. Prints "BYTES SHA256".
 *
 * <pre>
 * echo               copies Faasin.in to Faasin.out (ring to ring)
 * write BYTES SEED   writes pattern bytes to Faasin.out
 * read               reads Faasin.in to EOF
 * params             a warm function returning each invocation's parameters
 *                    (or "&lt;none&gt;")
 * one-shot-params    prints Faasin.params() (or "&lt;none&gt;")
 * </pre>
 */
public final class TestChild {
    private TestChild() {}

    public static void main(String[] args) throws IOException {
        switch (args[0]) {
            case "echo": {
                long n = Faasin.in.transferTo(Faasin.out);
                Faasin.out.close();
                System.out.println(n);
                break;
            }
            case "write": {
                long total = Long.parseLong(args[1]);
                TestSupport.Pattern pat = new TestSupport.Pattern(Long.parseLong(args[2]));
                MessageDigest md = TestSupport.sha256();
                byte[] buf = new byte[64 * 1024];
                for (long left = total; left > 0; ) {
                    int n = (int) Math.min(left, buf.length);
                    pat.fill(buf, 0, n);
                    Faasin.out.write(buf, 0, n);
                    md.update(buf, 0, n);
                    left -= n;
                }
                Faasin.out.close();
                System.out.println(total + " " + TestSupport.hex(md.digest()));
                break;
            }
            case "read": {
                MessageDigest md = TestSupport.sha256();
                byte[] buf = new byte[64 * 1024];
                long total = 0;
                for (int n; (n = Faasin.in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                    total += n;
                }
                System.out.println(total + " " + TestSupport.hex(md.digest()));
                break;
            }
            case "warm":
            case "warm-drop": {
                // Echoes each invocation's input upper-cased; "warm-drop"
                // breaks off its second invocation (closes it unfinished).
                int k = 0;
                for (FaasinInvocation inv : Faasin.invocations()) {
                    byte[] b = inv.in().readAllBytes();
                    if (args[0].equals("warm-drop") && ++k == 2) {
                        inv.close();
                        continue;
                    }
                    inv.out().write(new String(b, java.nio.charset.StandardCharsets.UTF_8)
                            .toUpperCase(java.util.Locale.ROOT).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    inv.finish("{\"bytes\": " + b.length + "}");
                }
                break;
            }
            case "params": {
                for (FaasinInvocation inv : Faasin.invocations()) {
                    inv.in().readAllBytes();
                    inv.finish(inv.params() == null ? "<none>" : inv.params());
                }
                break;
            }
            case "one-shot-params": {
                String p = Faasin.params();
                // UTF-8 whatever the locale says.
                System.out.write((p == null ? "<none>" : p).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                System.out.flush();
                break;
            }
            default:
                throw new IllegalArgumentException(args[0]);
        }
    }
}
