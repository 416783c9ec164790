-- wrk script for benches/platform: the request body is the file named by
-- WRK_BODY (none: an empty body; WRK_METHOD=GET for a plain GET), and at the
-- end one line "WRKJSON {...}" with exact percentiles (wrk keeps latencies in
-- microseconds) and every kind of error, for bench.py to read.

local path = os.getenv("WRK_BODY")
wrk.method = os.getenv("WRK_METHOD") or "POST"
if path and path ~= "" then
    local f = assert(io.open(path, "rb"))
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
        '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
        '"latency_us": {"min": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.min, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, latency.mean))
end
