import io.faasin.Faasin;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * ETL stage 1: CSV access-log lines from faasin, one compact 16-byte record per
 * line to faasout (little-endian u16 country, u16 endpoint, u16 status, u16 hour,
 * u32 latency in microseconds, u32 response bytes).
 *
 * Usage: java -cp faasin.jar:classes Parse DIMS.txt [--null]
 * --null reads the same input and writes the same number of (zeroed) records
 * without parsing: the move-only variant used to time the data movement.
 * Prints a JSON return value: lines, records, first_out_unix.
 */
public final class Parse {
    static final int RECORD = 16;

    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 2 || (args.length == 2 && !args[1].equals("--null"))) {
            System.err.println("usage: Parse DIMS.txt [--null]");
            System.exit(2);
        }
        boolean nullMode = args.length == 2;
        List<String> dims = Files.readAllLines(Path.of(args[0]), StandardCharsets.US_ASCII);
        Map<String, Integer> countries = index(dims.get(0));
        Map<String, Integer> endpoints = index(dims.get(1));

        InputStream in = Faasin.in;
        OutputStream out = Faasin.out;
        byte[] buf = new byte[1 << 20];
        ByteBuffer rec = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        int have = 0;
        long lineNo = 0;
        long records = 0;
        double firstOut = -1;
        boolean eof = false;
        while (!eof) {
            int n = in.read(buf, have, buf.length - have);
            if (n < 0) {
                eof = true;
                if (have == buf.length) {
                    fail(lineNo + 1, "line longer than " + (buf.length - 1) + " bytes");
                }
                if (have > 0) {
                    // A last line without a newline still counts.
                    buf[have++] = '\n';
                }
            } else {
                have += n;
            }
            int start = 0;
            for (int i = 0; i < have; i++) {
                if (buf[i] != '\n') {
                    continue;
                }
                lineNo++;
                if (lineNo == 1 && buf[start] == 't') {
                    start = i + 1; // the header
                    continue;
                }
                if (i > start) {
                    if (rec.remaining() < RECORD) {
                        out.write(rec.array(), 0, rec.position());
                        rec.clear();
                        if (firstOut < 0) {
                            firstOut = System.currentTimeMillis() / 1000.0;
                        }
                    }
                    if (nullMode) {
                        rec.position(rec.position() + RECORD);
                    } else {
                        parseLine(buf, start, i, lineNo, countries, endpoints, rec);
                    }
                    records++;
                }
                start = i + 1;
            }
            if (start == 0 && have == buf.length) {
                fail(lineNo + 1, "line longer than " + buf.length + " bytes");
            }
            System.arraycopy(buf, start, buf, 0, have - start);
            have -= start;
        }
        out.write(rec.array(), 0, rec.position());
        if (firstOut < 0) {
            firstOut = System.currentTimeMillis() / 1000.0;
        }
        out.close();
        System.out.printf("{\"lines\":%d,\"records\":%d,\"first_out_unix\":%.6f}%n", lineNo, records, firstOut);
    }

    static Map<String, Integer> index(String csv) {
        Map<String, Integer> m = new HashMap<>();
        for (String s : csv.split(",")) {
            m.put(s, m.size());
        }
        return m;
    }

    static void parseLine(byte[] b, int from, int to, long lineNo, Map<String, Integer> countries,
            Map<String, Integer> endpoints, ByteBuffer rec) {
        int[] comma = new int[6];
        int k = 0;
        for (int i = from; i < to; i++) {
            if (b[i] == ',') {
                if (k == 6) {
                    fail(lineNo, "more than 7 fields");
                }
                comma[k++] = i;
            }
        }
        if (k != 6) {
            fail(lineNo, "expected 7 comma-separated fields, got " + (k + 1));
        }
        // ts is 2026-01-01THH:MM:SSZ: the hour is at offset 11.
        if (comma[0] - from < 13) {
            fail(lineNo, "bad timestamp");
        }
        int hour = (int) number(b, from + 11, from + 13, lineNo, "hour");
        Integer country = countries.get(new String(b, comma[1] + 1, comma[2] - comma[1] - 1, StandardCharsets.US_ASCII));
        Integer endpoint = endpoints.get(new String(b, comma[2] + 1, comma[3] - comma[2] - 1, StandardCharsets.US_ASCII));
        if (country == null || endpoint == null) {
            fail(lineNo, "unknown country or endpoint");
        }
        long status = number(b, comma[3] + 1, comma[4], lineNo, "status");
        // latency_ms has exactly three decimals: read it as integer microseconds.
        int dot = comma[5] - 4;
        if (dot <= comma[4] || b[dot] != '.') {
            fail(lineNo, "latency_ms needs three decimals");
        }
        long latencyUs = number(b, comma[4] + 1, dot, lineNo, "latency") * 1000 + number(b, dot + 1, comma[5], lineNo, "latency");
        long bytes = number(b, comma[5] + 1, to, lineNo, "bytes");
        rec.putShort((short) (int) country).putShort((short) (int) endpoint).putShort((short) status)
                .putShort((short) hour).putInt((int) latencyUs).putInt((int) bytes);
    }

    static long number(byte[] b, int from, int to, long lineNo, String what) {
        if (from >= to || to - from > 9) {
            fail(lineNo, "bad " + what);
        }
        long v = 0;
        for (int i = from; i < to; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                fail(lineNo, "bad " + what);
            }
            v = v * 10 + d;
        }
        return v;
    }

    static void fail(long lineNo, String why) {
        System.err.println("parse: line " + lineNo + ": " + why);
        System.exit(1);
    }
}
