#!/usr/bin/env python3
"""Function chains through `faasin run`, the same functions under each
transport (benches/chains/run.sh builds and calls this).

(a) one hop A -> B (`chainfn write SIZE` -> `chainfn read`) for each payload
    size: end-to-end time (the runner's `elapsed_s`: from its start until the
    chain's output is out) and the time until B has its first byte (B's own
    wall clock, minus the runner's start);
(b) a chain of 10 tiny functions passing 100 bytes (`chainfn write 100`,
    8 x `faasin cat`, `chainfn read`): end-to-end time;
(c), (d) the same with warm functions (`faasin run --warm N`: processes
    started once, each invocation with fresh streams): per invocation, from
    the runner's first grant (it makes an invocation's streams at the end of
    the previous one) until the last return value and the output are in, as
    a platform with warm containers would see it.

Each run is bracketed by two probes of the host state (`host_state`, see
benches/src/host_state.rs), and the tables say how many runs (invocations)
of each row ran near, far, or across a change of state.

Every repetition runs every transport, in an order rotated per repetition so
that drift on this shared machine hits all alike. Raw reports go to OUT/.
"""

import json
import os
import statistics
import subprocess
import sys
import time

OUT = os.environ.get("OUT", "target/bench-results/chains")
REPS = int(os.environ.get("REPS", "7"))
SMALL_REPS = int(os.environ.get("SMALL_REPS", "15"))
CHAIN_REPS = int(os.environ.get("CHAIN_REPS", "11"))
# Warm runs: `faasin run --warm N` (the functions start once and serve N
# invocations); each run's first invocation is left out of the statistics.
WARM_N = int(os.environ.get("WARM_N", "11"))
WARM_ROUNDS = int(os.environ.get("WARM_ROUNDS", "2"))
SIZES = [int(s) for s in os.environ.get(
    "SIZES", f"{1 << 10} {1 << 20} {16 << 20} {256 << 20}").split()]
HOP_TRANSPORTS = ["faasin", "redis", "file", "pipe"]
CHAIN_TRANSPORTS = ["faasin", "redis", "pipe", "file"]


def human(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n} B"


def host_state():
    """`near` or `far` from the host_state probe (benches/src/host_state.rs),
    or None if it cannot run."""
    try:
        out = subprocess.run(["host_state"], capture_output=True, text=True, timeout=30)
        return out.stdout.split()[1] if out.returncode == 0 else None
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def run_faasin(transport, commands, tag, extra=(), timeout=120):
    """`faasin run` with a report; the report, or the error. `state` is the
    host state around the run: near or far when the probes before and after
    agree, else mixed (or None without a probe)."""
    before = host_state()
    res = run_faasin_once(transport, commands, tag, extra, timeout)
    after = host_state()
    res["state"] = None if None in (before, after) else before if before == after else "mixed"
    return res


def run_faasin_once(transport, commands, tag, extra, timeout):
    report = os.path.join(OUT, "reports", f"{tag}.json")
    cmd = ["faasin", "run", "-q", *extra, "--transport", transport,
           "--report", report, "--timeout", str(timeout)] + commands
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=timeout + 60)
    r = json.load(open(report)) if os.path.exists(report) else None
    if p.returncode != 0 or r is None or not r["ok"]:
        return {"ok": False, "error": (r or {}).get("error") or p.stderr.strip(),
                "report": report}
    return {"ok": True, "r": r, "report": report}


def run_warm(transport, commands, n, tag):
    """One warm run; returns its invocations after the first, or an error."""
    res = run_faasin(transport, commands, tag, extra=("--warm", str(n)), timeout=600)
    if res["ok"]:
        res["invocations"] = res["r"]["invocations"][1:]
    return res


def warm_rows(res, size):
    """Per-invocation rows of a warm hop (or chain), checked."""
    if not res["ok"]:
        return [{"ok": False, "error": res["error"]}]
    rows = []
    for inv in res["invocations"]:
        vals = inv["return_values"]
        a, z = vals[0], vals[-1]
        if a["bytes"] != size or z["bytes"] != size or a["sum"] != z["sum"]:
            rows.append({"ok": False, "error": f"check failed: wrote {a}, read {z}"})
            continue
        first = z["first_byte_unix_s"]
        rows.append({"ok": True, "e2e_s": inv["elapsed_s"], "state": res["state"],
                     "first_byte_s": first - inv["started_unix_s"] if first else None})
    return rows


def hop_row(res, size):
    if not res["ok"]:
        return res
    r = res["r"]
    a, b = r["functions"]
    ra, rb = a["return_value"], b["return_value"]
    if ra["bytes"] != size or rb["bytes"] != size or ra["sum"] != rb["sum"]:
        return {"ok": False, "error": f"check failed: wrote {ra}, read {rb}",
                "report": res["report"]}
    first = rb["first_byte_unix_s"]
    store = r.get("store") or {}
    return {
        "ok": True,
        "state": res["state"],
        "e2e_s": r["elapsed_s"],
        "first_byte_s": first - r["started_unix_s"] if first else None,
        "rss_a": a["max_rss_bytes"], "rss_b": b["max_rss_bytes"],
        "rss_runner": r["runner_max_rss_bytes"],
        "rss_redis": store.get("server_max_rss_bytes"),
        "report": res["report"],
    }


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def summarize(rows):
    """Statistics of one table row's runs (or invocations)."""
    good = [r for r in rows if r["ok"]]
    states = {}
    for r in good:
        k = r.get("state") or "unknown"
        states[k] = states.get(k, 0) + 1
    return {"e2e_s": stats([r["e2e_s"] for r in good]),
            "first_byte_s": stats([r["first_byte_s"] for r in good]),
            "invocations": len(good), "failed": len(rows) - len(good), "states": states}


def states(s):
    """How many of a row's runs (or invocations) ran in each host state."""
    return ", ".join(f"{k} {v}" for k, v in sorted(s["states"].items())) or "-"


def ratio(s, base, key):
    """A row's median over FAASIN's, as text."""
    if s[key] is None or base[key] is None:
        return "-"
    return f"{s[key]['median'] / base[key]['median']:.1f}x"


def ms(x):
    return f"{x * 1e3:.1f}" if x < 10 else f"{x:.2f} s"


def fmt(st):
    if st is None:
        return "failed"
    return f"{ms(st['median'])} ({ms(st['min'])}-{ms(st['max'])})"


def main():
    os.makedirs(os.path.join(OUT, "reports"), exist_ok=True)
    runs = {"hop": [], "chain10": []}
    t0 = time.time()

    # (a) one hop. Payloads under 64 MiB are quick and noisier (process
    # starts on a shared machine): they get SMALL_REPS repetitions.
    def reps_of(size):
        return REPS if size >= 64 << 20 else SMALL_REPS

    for rep in range(max(REPS, SMALL_REPS)):
        for size in [s for s in SIZES if rep < reps_of(s)]:
            k = (rep + SIZES.index(size)) % len(HOP_TRANSPORTS)
            for t in HOP_TRANSPORTS[k:] + HOP_TRANSPORTS[:k]:
                res = run_faasin(t, [f"chainfn write {size}", "chainfn read"],
                                f"hop-{size}-{t}-{rep}")
                row = hop_row(res, size)
                row.update({"transport": t, "size": size, "rep": rep})
                runs["hop"].append(row)
                if not row["ok"]:
                    print(f"  {t} {human(size)} rep {rep}: FAILED: {row['error']}",
                          file=sys.stderr)
        print(f"hop repetition {rep + 1}/{max(REPS, SMALL_REPS)} done ({time.time() - t0:.0f} s)",
              file=sys.stderr)

    # (b) ten tiny functions.
    chain = ["chainfn write 100"] + ["faasin cat"] * 8 + ["chainfn read"]
    for rep in range(CHAIN_REPS):
        k = rep % len(CHAIN_TRANSPORTS)
        for t in CHAIN_TRANSPORTS[k:] + CHAIN_TRANSPORTS[:k]:
            res = run_faasin(t, chain, f"chain10-{t}-{rep}")
            row = {"transport": t, "rep": rep, "ok": res["ok"], "report": res["report"]}
            if res["ok"]:
                fs = res["r"]["functions"]
                a, z = fs[0]["return_value"], fs[-1]["return_value"]
                if a["sum"] != z["sum"] or z["bytes"] != 100:
                    row.update(ok=False, error=f"check failed: {a} vs {z}")
                else:
                    row["e2e_s"] = res["r"]["elapsed_s"]
                    row["first_byte_s"] = z["first_byte_unix_s"] - res["r"]["started_unix_s"]
            else:
                row["error"] = res["error"]
            runs["chain10"].append(row)
    print(f"10-function chain done ({time.time() - t0:.0f} s)", file=sys.stderr)

    # (c) and (d): the same, with warm functions.
    runs["warm_hop"], runs["warm_chain10"] = [], []
    for rnd in range(WARM_ROUNDS):
        for size in SIZES:
            n = WARM_N if size < 64 << 20 else max(3, WARM_N // 3)
            k = (rnd + SIZES.index(size)) % len(HOP_TRANSPORTS)
            for t in HOP_TRANSPORTS[k:] + HOP_TRANSPORTS[:k]:
                res = run_warm(t, [f"chainfn write {size}", "chainfn read"], n,
                               f"warm-{size}-{t}-{rnd}")
                for row in warm_rows(res, size):
                    row.update({"transport": t, "size": size})
                    runs["warm_hop"].append(row)
                    if not row["ok"]:
                        print(f"  warm {t} {human(size)}: FAILED: {row['error']}", file=sys.stderr)
        k = rnd % len(CHAIN_TRANSPORTS)
        for t in CHAIN_TRANSPORTS[k:] + CHAIN_TRANSPORTS[:k]:
            res = run_warm(t, chain, 2 * WARM_N, f"warm-chain10-{t}-{rnd}")
            for row in warm_rows(res, 100):
                row["transport"] = t
                runs["warm_chain10"].append(row)
        print(f"warm round {rnd + 1}/{WARM_ROUNDS} done ({time.time() - t0:.0f} s)",
              file=sys.stderr)

    # Summaries and tables.
    summary = {"hop": {}, "chain10": {}}
    lines = []
    lines.append(f"### (a) One hop A -> B: `chainfn write SIZE` -> `chainfn read` "
                 f"({SMALL_REPS} repetitions under 64 MiB, {REPS} from 64 MiB; "
                 f"median (min-max); ms unless marked s)\n")
    lines.append("| payload | transport | end-to-end | vs FAASIN | B's first byte | vs FAASIN | failed runs | host state |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for size in SIZES:
        summary["hop"][str(size)] = {}
        for t in HOP_TRANSPORTS:
            rows = [r for r in runs["hop"] if r["size"] == size and r["transport"] == t]
            good = [r for r in rows if r["ok"]]
            s = summarize(rows)
            s["errors"] = sorted({r["error"] for r in rows if not r["ok"]})
            s["max_rss"] = {k: max((r[k] or 0 for r in good), default=None)
                            for k in ("rss_a", "rss_b", "rss_runner", "rss_redis")}
            summary["hop"][str(size)][t] = s
        base = summary["hop"][str(size)]["faasin"]
        for t in HOP_TRANSPORTS:
            s = summary["hop"][str(size)][t]
            lines.append(f"| {human(size)} | {t} | {fmt(s['e2e_s'])} | {ratio(s, base, 'e2e_s')} | "
                         f"{fmt(s['first_byte_s'])} | {ratio(s, base, 'first_byte_s')} | "
                         f"{s['failed']} | {states(s)} |")

    big = str(max(SIZES))
    lines.append(f"\n### Peak resident memory at {human(int(big))} (max over repetitions, MiB)\n")
    lines.append("| transport | A (writer) | B (reader) | runner | redis-server |")
    lines.append("|---|---|---|---|---|")
    for t in HOP_TRANSPORTS:
        m = summary["hop"][big][t]["max_rss"]

        def mib(v):
            return "-" if not v else f"{v / (1 << 20):.1f}"
        lines.append(f"| {t} | {mib(m['rss_a'])} | {mib(m['rss_b'])} | "
                     f"{mib(m['rss_runner'])} | {mib(m['rss_redis'])} |")

    lines.append(f"\n### (b) 10 functions passing 100 bytes: `chainfn write 100`, "
                 f"8 x `faasin cat`, `chainfn read` ({CHAIN_REPS} repetitions)\n")
    lines.append("| transport | end-to-end | vs FAASIN | last function's first byte | failed runs |")
    lines.append("|---|---|---|---|---|")
    for t in CHAIN_TRANSPORTS:
        summary["chain10"][t] = summarize([r for r in runs["chain10"] if r["transport"] == t])
    for t in CHAIN_TRANSPORTS:
        s = summary["chain10"][t]
        lines.append(f"| {t} | {fmt(s['e2e_s'])} | {ratio(s, summary['chain10']['faasin'], 'e2e_s')} | "
                     f"{fmt(s['first_byte_s'])} | {s['failed']} |")

    summary["warm_hop"], summary["warm_chain10"] = {}, {}
    lines.append(f"\n### (c) One hop with warm functions: `faasin run --warm N`, "
                 f"{WARM_ROUNDS} runs per transport and payload, N = {WARM_N} "
                 f"({max(3, WARM_N // 3)} from 64 MiB), each run's first invocation left out; "
                 f"per invocation, median (min-max), ms unless marked s\n")
    lines.append("| payload | transport | end-to-end | vs FAASIN | B's first byte | vs FAASIN | invocations | failed | host state (invocations) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for size in SIZES:
        per = {t: summarize([r for r in runs["warm_hop"]
                             if r["size"] == size and r["transport"] == t])
               for t in HOP_TRANSPORTS}
        summary["warm_hop"][str(size)] = per
        for t in HOP_TRANSPORTS:
            s = per[t]
            lines.append(f"| {human(size)} | {t} | {fmt(s['e2e_s'])} | "
                         f"{ratio(s, per['faasin'], 'e2e_s')} | {fmt(s['first_byte_s'])} | "
                         f"{ratio(s, per['faasin'], 'first_byte_s')} | "
                         f"{s['invocations']} | {s['failed']} | {states(s)} |")

    lines.append(f"\n### (d) The 10-function chain with warm functions "
                 f"(N = {2 * WARM_N}, {WARM_ROUNDS} runs per transport)\n")
    lines.append("| transport | end-to-end | vs FAASIN | last function's first byte | invocations | failed |")
    lines.append("|---|---|---|---|---|---|")
    for t in CHAIN_TRANSPORTS:
        summary["warm_chain10"][t] = summarize(
            [r for r in runs["warm_chain10"] if r["transport"] == t])
    for t in CHAIN_TRANSPORTS:
        s = summary["warm_chain10"][t]
        lines.append(f"| {t} | {fmt(s['e2e_s'])} | "
                     f"{ratio(s, summary['warm_chain10']['faasin'], 'e2e_s')} | "
                     f"{fmt(s['first_byte_s'])} | {s['invocations']} | {s['failed']} |")

    load = open("/proc/loadavg").read().split()[:3]
    lines.append(f"\nLoad average at the end: {' '.join(load)}; bench time {time.time() - t0:.0f} s")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(OUT, "tables.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(OUT, "runs.json"), "w") as f:
        json.dump(runs, f, indent=1)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump({"sizes": SIZES, "reps": REPS, "small_reps": SMALL_REPS, "chain_reps": CHAIN_REPS,
                   "warm_n": WARM_N, "warm_rounds": WARM_ROUNDS,
                   "loadavg_end": load, "summary": summary}, f, indent=1)
    failed = sum(1 for k in runs for r in runs[k] if not r["ok"])
    if failed:
        print(f"{failed} run(s) failed; see above", file=sys.stderr)


if __name__ == "__main__":
    main()
