#!/usr/bin/env python3
"""`faasin serve` under HTTP load (benches/platform/run.sh builds what it
needs and calls this from the repository root, target/release on PATH).

The service runs benches/platform/platform.toml: `faasin cat` (a warm Rust
pass-through function) three times in a chain, once over FAASIN rings, once
passing each whole output on as the next function's payload, once through
Redis; and a chain of three warm Python pass-through functions. wrk drives
it over keep-alive connections; each row is wrk for a few seconds at 1, 4 or
16 clients, and gives requests per second and the p50/p99 latency as the
client sees it (request sent until the response's last byte).

Beside them, at one client: the same three functions in `faasin run --warm
N` (no HTTP: per invocation, as the runner times it); the same hand-over as
three Ray tasks (benches/platform/ray_chain.py); and floors: one `faasin cat`
alone (`POST /functions/cat`) with the same payload, with an empty body, and
`GET /metrics`, which runs no function.

Every round runs every mode of a payload size and client count one after
another, in an order rotated per round, so that drift on a shared machine
hits all alike; tables give medians over rounds. Last, a soak: wrk at 16
clients with 1 KiB for SOAK_SECONDS, sampling the memory of the service and
of every process under it. Raw output goes to OUT/.
"""

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time

OUT = os.environ.get("OUT", "target/bench-results/platform")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
# Seconds per wrk row, by payload size (16 MiB rows need more for enough
# requests at 16 clients).
ROW_SECONDS = {1 << 10: 2, 1 << 20: 2, 16 << 20: 4}
SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "60"))
SAMPLE_EVERY = 5
SIZES = [1 << 10, 1 << 20, 16 << 20]
CLIENTS = [1, 4, 16]
CHAINS = ["faasin", "payload", "redis"]
# Invocations per `faasin run --warm` and per Ray row, by size.
WARM_N = {1 << 10: 2000, 1 << 20: 400, 16 << 20: 60}
RAY_N = {1 << 10: 300, 1 << 20: 100, 16 << 20: 20}

CONFIG = "benches/platform/platform.toml"
LUA = "benches/platform/wrk.lua"
HOST, PORT = "127.0.0.1", 18080
URL = f"http://{HOST}:{PORT}"


def human(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n // div} {unit}"
    return f"{n} B"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def payload_file(size):
    path = f"{OUT}/payload-{size}.bin"
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(os.urandom(size))
    return path


# --- the service -------------------------------------------------------------

def start_service():
    err = open(f"{OUT}/serve.log", "wb")
    p = subprocess.Popen(["faasin", "serve", "-c", CONFIG], stderr=err,
                         stdout=subprocess.DEVNULL)
    for _ in range(200):
        if p.poll() is not None:
            sys.exit(f"faasin serve exited ({p.returncode}); see {OUT}/serve.log")
        try:
            c = http.client.HTTPConnection(HOST, PORT, timeout=5)
            c.request("GET", "/metrics")
            c.getresponse().read()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("faasin serve did not answer within 10 s")


def post(path, body_file):
    """One request through curl, which reads the response while it sends
    (a client that sends the whole body first, as Python's http.client
    does, stalls on a streaming chain once the output fills every buffer
    on the way back): (status, output, invocation id)."""
    out, headers = f"{OUT}/check-output.bin", f"{OUT}/check-headers.txt"
    p = subprocess.run(["curl", "-s", "-o", out, "-D", headers, "-w", "%{http_code}",
                        "--data-binary", "@" + body_file, URL + path],
                       capture_output=True, text=True, timeout=120)
    inv = next((ln.split(":", 1)[1].strip() for ln in open(headers)
                if ln.lower().startswith("faasin-invocation-id:")), None)
    return int(p.stdout or 0), open(out, "rb").read(), inv


def get_json(path):
    c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    c.request("GET", path)
    return json.loads(c.getresponse().read())


def check_chains():
    """Every chain gives back what it was sent, at every size; the first
    invocation's report (cold starts, return values) is kept."""
    reports = {}
    for chain in CHAINS + ["py"]:
        for size in SIZES:
            data = open(payload_file(size), "rb").read()
            status, out, inv = post(f"/chains/{chain}", payload_file(size))
            if status != 200 or out != data:
                sys.exit(f"chain {chain} at {human(size)}: status {status}, "
                         f"{len(out)} bytes back, not the {size} sent")
            reports.setdefault(chain, get_json(f"/invocations/{inv}"))
    return reports


def metrics_text():
    c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    c.request("GET", "/metrics")
    return c.getresponse().read().decode()


def counters(text, name):
    """{labels: value} of one counter family in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name):].rsplit(" ", 1)
            out[labels] = float(value)
    return out


# --- memory of the service and what runs under it ----------------------------

def process_tree(root):
    """Pids of `root` and every descendant."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def status_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {"name": fields["Name"].strip(),
                "rss_kib": int(fields.get("VmRSS", "0 kB").split()[0]),
                "hwm_kib": int(fields.get("VmHWM", "0 kB").split()[0]),
                "threads": int(fields["Threads"])}
    except (OSError, KeyError, ValueError):
        return None


def memory_sample(root):
    procs = {p: s for p in process_tree(root) if (s := status_of(p)) is not None}
    own = procs.get(root, {"rss_kib": 0, "threads": 0})
    try:
        fds = len(os.listdir(f"/proc/{root}/fd"))
    except OSError:
        fds = None
    others = [s for p, s in procs.items() if p != root]
    by_name = {}
    for s in others:
        n = by_name.setdefault(s["name"], {"count": 0, "rss_kib": 0})
        n["count"] += 1
        n["rss_kib"] += s["rss_kib"]
    return {"serve_rss_kib": own["rss_kib"], "serve_threads": own["threads"],
            "serve_fds": fds, "processes": len(others),
            "children_rss_kib": sum(s["rss_kib"] for s in others),
            "total_rss_kib": sum(s["rss_kib"] for s in procs.values()),
            "by_name": by_name}


# --- the modes ---------------------------------------------------------------

def wrk_args(path, clients, seconds, body=None, method="POST"):
    """wrk's command line and environment (wrk.lua reads the body's file
    and the method from it)."""
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "60s",
           "-s", LUA, URL + path]
    return cmd, dict(os.environ, WRK_BODY=body or "", WRK_METHOD=method)


def wrk_result(output):
    """The line wrk.lua's done() prints, or None."""
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    return json.loads(line[len("WRKJSON "):]) if line else None


def wrk(tag, path, clients, seconds, body=None, method="POST"):
    cmd, env = wrk_args(path, clients, seconds, body, method)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    with open(f"{OUT}/raw/{tag}.txt", "w") as f:
        f.write(p.stdout + p.stderr)
    r = wrk_result(p.stdout)
    if p.returncode != 0 or r is None:
        return {"error": f"wrk exited {p.returncode}: {p.stderr.strip()[-300:]}"}
    lat = r["latency_us"]
    return {"requests": r["requests"], "rps": r["requests"] / (r["duration_us"] / 1e6),
            "p50_ms": lat["p50"] / 1e3, "p99_ms": lat["p99"] / 1e3,
            "errors": sum(r["errors"].values()), "error_kinds": r["errors"]}


def from_times(times):
    """A row from per-invocation times, one at a time."""
    t = sorted(times)
    pick = lambda q: t[min(len(t) - 1, int(q * len(t)))] * 1e3  # noqa: E731
    return {"requests": len(t), "rps": len(t) / sum(t), "p50_ms": pick(0.50),
            "p99_ms": pick(0.99), "errors": 0}


def warm_run(tag, size):
    """`faasin run --warm N` of the same three functions; the first
    invocation (the functions' start) is left out."""
    n = WARM_N[size]
    report = f"{OUT}/raw/{tag}.json"
    cmd = ["faasin", "run", "--warm", str(n + 1), "-q", "-i", payload_file(size),
           "-o", "/dev/null", "--report", report, "faasin cat", "faasin cat", "faasin cat"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return {"error": f"faasin run exited {p.returncode}: {p.stderr.strip()[-300:]}"}
    invs = json.load(open(report))["invocations"][1:]
    return from_times([i["elapsed_s"] for i in invs])


class Ray:
    """benches/platform/ray_chain.py as a child that stays up between rows."""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "benches/platform/ray_chain.py"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(f"{OUT}/ray.log", "wb"), text=True)
        ready = self.p.stdout.readline()
        if not ready:
            sys.exit(f"ray_chain.py ended before ray.init() was done; see {OUT}/ray.log")
        self.version = json.loads(ready)["ray"]

    def run(self, tag, size):
        self.p.stdin.write(f"{size} {RAY_N[size]}\n")
        self.p.stdin.flush()
        r = json.loads(self.p.stdout.readline() or '{"error": "ray_chain.py ended"}')
        with open(f"{OUT}/raw/{tag}.json", "w") as f:
            json.dump(r, f)
        return {"error": r["error"]} if "error" in r else from_times(r["times_s"])

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=120)


def modes(size, clients, ray):
    """(mode, function giving its row) for one payload size and client count."""
    body, secs = payload_file(size), ROW_SECONDS[size]
    m = [(c, lambda tag, c=c: wrk(tag, f"/chains/{c}", clients, secs, body)) for c in CHAINS]
    if clients == 1:
        m += [
            ("py", lambda tag: wrk(tag, "/chains/py", 1, secs, body)),
            ("one-function", lambda tag: wrk(tag, "/functions/cat", 1, secs, body)),
            ("run-warm", lambda tag: warm_run(tag, size)),
            ("ray", lambda tag: ray.run(tag, size)),
        ]
        if size == SIZES[0]:
            m += [
                ("empty-body", lambda tag: wrk(tag, "/functions/cat", 1, secs)),
                ("get-metrics", lambda tag: wrk(tag, "/metrics", 1, secs, method="GET")),
            ]
    return m


def warm_up():
    """Starts every instance the rows use (16 clients x 3 of `cat`), so
    that no row pays for cold starts."""
    body = payload_file(SIZES[0])
    for chain in CHAINS:
        wrk(f"warm-up-{chain}", f"/chains/{chain}", 16, 1, body)
    wrk("warm-up-py", "/chains/py", 4, 1, body)


def soak(serve_pid):
    before = metrics_text()
    samples = []
    cmd, env = wrk_args("/chains/faasin", 16, SOAK_SECONDS, payload_file(1 << 10))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    while True:
        s = memory_sample(serve_pid)
        s["t_s"] = round(time.monotonic() - t0, 1)
        samples.append(s)
        log(f"  soak {s['t_s']:5.1f} s: serve {s['serve_rss_kib'] / 1024:.1f} MiB, "
            f"{s['processes']} processes under it {s['children_rss_kib'] / 1024:.1f} MiB, "
            f"{s['serve_fds']} fds, {s['serve_threads']} threads")
        try:
            p.wait(timeout=SAMPLE_EVERY)
            break
        except subprocess.TimeoutExpired:
            pass
    # The last sample, with every invocation ended.
    time.sleep(0.5)
    s = memory_sample(serve_pid)
    s["t_s"] = round(time.monotonic() - t0, 1)
    samples.append(s)
    out = p.stdout.read()
    with open(f"{OUT}/raw/soak.txt", "w") as f:
        f.write(out)
    r = wrk_result(out) or {"error": out[-300:]}
    after = metrics_text()
    name = "faasin_invocations_total"
    delta = {k: v - counters(before, name).get(k, 0) for k, v in counters(after, name).items()}
    return {"wrk": r, "samples": samples,
            "invocations_by_code": {k: v for k, v in delta.items() if v}}


def stop_service(p):
    tree = process_tree(p.pid)
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=60)
    time.sleep(0.5)
    left = [q for q in tree[1:] if status_of(q) is not None]
    return {"exit_code": code, "processes_before_stop": len(tree) - 1,
            "left_running": left}


# --- tables ------------------------------------------------------------------

def med(rows, key):
    vals = [r[key] for r in rows if "error" not in r]
    return statistics.median(vals) if vals else None


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def ratio(a, b):
    return f"{a / b:.1f}x" if a is not None and b else "-"


def tables(rows, soak_result, stop, machine):
    """Markdown for BENCHMARKS.md and a summary dict."""
    s = {}
    for (mode, size, clients), rs in rows.items():
        s[f"{mode} {size} {clients}"] = {
            "mode": mode, "size": size, "clients": clients,
            "rps": med(rs, "rps"), "p50_ms": med(rs, "p50_ms"), "p99_ms": med(rs, "p99_ms"),
            "requests": sum(r.get("requests", 0) for r in rs),
            "errors": sum(r.get("errors", 0) for r in rs),
            "failed_rows": [r["error"] for r in rs if "error" in r], "runs": rs}
    g = lambda mode, size, c=1: s.get(f"{mode} {size} {c}", {})  # noqa: E731
    out = []
    out.append("| payload | clients | FAASIN req/s | p50 | p99 | payload mode req/s | p50 "
               "| Redis req/s | p50 | p50 payload / FAASIN | p50 Redis / FAASIN |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rps = lambda x: f"{x['rps']:.0f}" if x.get("rps") else "-"  # noqa: E731
    for size in SIZES:
        for c in CLIENTS:
            f, p, r = g("faasin", size, c), g("payload", size, c), g("redis", size, c)
            out.append(f"| {human(size)} | {c} | {rps(f)} | {fmt_ms(f.get('p50_ms'))} "
                       f"| {fmt_ms(f.get('p99_ms'))} | {rps(p)} | {fmt_ms(p.get('p50_ms'))} "
                       f"| {rps(r)} | {fmt_ms(r.get('p50_ms'))} "
                       f"| {ratio(p.get('p50_ms'), f.get('p50_ms'))} "
                       f"| {ratio(r.get('p50_ms'), f.get('p50_ms'))} |")
    out.append("")
    out.append("| payload, 1 client, p50 (p99), ms | FAASIN chain | `faasin run --warm` (no HTTP) "
               "| one `faasin cat` (the HTTP floor) | Python chain | Ray tasks |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for size in SIZES:
        cells = []
        for mode in ("faasin", "run-warm", "one-function", "py", "ray"):
            x = g(mode, size)
            cells.append(f"{fmt_ms(x.get('p50_ms'))} ({fmt_ms(x.get('p99_ms'))})")
        out.append(f"| {human(size)} | " + " | ".join(cells) + " |")
    e, m = g("empty-body", SIZES[0]), g("get-metrics", SIZES[0])
    out.append("")
    out.append(f"Floors, 1 client, p50 (p99): `POST /functions/cat` with an empty body "
               f"{fmt_ms(e.get('p50_ms'))} ms ({fmt_ms(e.get('p99_ms'))}), `GET /metrics` "
               f"{fmt_ms(m.get('p50_ms'))} ms ({fmt_ms(m.get('p99_ms'))}).")
    first, last = soak_result["samples"][0], soak_result["samples"][-1]
    w = soak_result["wrk"]
    errs = sum(w.get("errors", {}).values()) if "errors" in w else "?"
    mib = lambda k: k / 1024  # noqa: E731
    out.append(f"Soak, 16 clients, 1 KiB, {SOAK_SECONDS} s: {w.get('requests', '?')} requests, "
               f"{errs} errors, invocations by status "
               f"{json.dumps(soak_result['invocations_by_code'])}; service RSS "
               f"{mib(first['serve_rss_kib']):.1f} -> {mib(last['serve_rss_kib']):.1f} MiB, "
               f"{first['processes']} -> {last['processes']} processes under it "
               f"{mib(first['children_rss_kib']):.1f} -> {mib(last['children_rss_kib']):.1f} MiB, "
               f"fds {first['serve_fds']} -> {last['serve_fds']}, threads "
               f"{first['serve_threads']} -> {last['serve_threads']}; SIGTERM: exit "
               f"{stop['exit_code']}, {len(stop['left_running'])} of "
               f"{stop['processes_before_stop']} processes left running.")
    f1, w1 = g("faasin", SIZES[0]), g("run-warm", SIZES[0])
    targets = {
        "1 MiB payload/FAASIN p50 >= 10": ratio(g("payload", 1 << 20).get("p50_ms"),
                                                g("faasin", 1 << 20).get("p50_ms")),
        "16 MiB payload/FAASIN p50 >= 10": ratio(g("payload", 16 << 20).get("p50_ms"),
                                                 g("faasin", 16 << 20).get("p50_ms")),
        "16 MiB Redis/FAASIN p50 >= 20": ratio(g("redis", 16 << 20).get("p50_ms"),
                                               g("faasin", 16 << 20).get("p50_ms")),
        "1 KiB FAASIN/run --warm p50 <= 1.5": ratio(f1.get("p50_ms"), w1.get("p50_ms")),
    }
    out.append("Targets (1 client): " + "; ".join(f"{k}: {v}" for k, v in targets.items()) + ".")
    return "\n".join(out) + "\n", {"rows": s, "targets": targets, "soak": soak_result,
                                  "stop": stop, "machine": machine}


def measure(ray, serve_pid):
    """Checks the chains, warms them up, runs every round; rows by (mode,
    size, clients). Each row notes the service's RSS after it."""
    t0 = time.monotonic()
    reports = check_chains()
    with open(f"{OUT}/first-invocations.json", "w") as f:
        json.dump(reports, f, indent=1)
    warm_up()
    log(f"--- ready; {ROUNDS} rounds")
    rows = {}
    for rnd in range(ROUNDS):
        for size in SIZES:
            for clients in CLIENTS:
                ms = modes(size, clients, ray)
                k = rnd % len(ms)
                for mode, fn in ms[k:] + ms[:k]:
                    tag = f"{mode}-{size}-{clients}-r{rnd}"
                    r = fn(tag)
                    mem = status_of(serve_pid) or {}
                    r["serve_rss_kib"], r["serve_hwm_kib"] = mem.get("rss_kib"), mem.get("hwm_kib")
                    rows.setdefault((mode, size, clients), []).append(r)
                    if "error" in r:
                        log(f"  {tag}: FAILED: {r['error']}")
                    else:
                        log(f"  {tag}: {r['rps']:.0f}/s p50 {r['p50_ms']:.2f} ms "
                            f"p99 {r['p99_ms']:.2f} ms errors {r['errors']}; service RSS "
                            f"{(r['serve_rss_kib'] or 0) / 1024:.0f} MiB")
        log(f"--- round {rnd + 1}/{ROUNDS} done ({time.monotonic() - t0:.0f} s)")
    return rows


def main():
    os.makedirs(f"{OUT}/raw", exist_ok=True)
    for size in SIZES:
        payload_file(size)
    t0 = time.monotonic()
    log("--- starting Ray (ray.init) and faasin serve")
    ray = Ray()
    serve = None
    try:
        serve = start_service()
        rows = measure(ray, serve.pid)
        ray.close()
        log(f"--- soak: 16 clients, 1 KiB, {SOAK_SECONDS} s")
        soak_result = soak(serve.pid)
        stop = stop_service(serve)
    finally:
        # On a failure: nothing of the benchmark is left running.
        if ray.p.poll() is None:
            ray.p.send_signal(signal.SIGINT)
            ray.p.wait(timeout=60)
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
    machine = {"ray": ray.version, "rounds": ROUNDS, "soak_s": SOAK_SECONDS,
               "loadavg_end": open("/proc/loadavg").read().split()[:3]}
    md, summary = tables(rows, soak_result, stop, machine)
    with open(f"{OUT}/table.md", "w") as f:
        f.write(md)
    with open(f"{OUT}/summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    print(md)
    log(f"--- done in {time.monotonic() - t0:.0f} s; raw output in {OUT}/")


if __name__ == "__main__":
    main()
