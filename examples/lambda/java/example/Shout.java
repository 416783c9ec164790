package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import io.faasin.Faasin;
import io.faasin.FaasinStreams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * A Lambda handler that is also a FAASIN stage: it streams its faasin to its
 * faasout in upper case and returns how many bytes it passed on.
 */
public class Shout implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        long bytes = 0;
        try (FaasinStreams s = Faasin.streamsOf(context.getAwsRequestId())) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = s.in().read(buf)) > 0; bytes += n) {
                for (int i = 0; i < n; i++) {
                    if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 'a' - 'A';
                }
                s.out().write(buf, 0, n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of("bytes", bytes, "query", event.get("query"));
    }
}
