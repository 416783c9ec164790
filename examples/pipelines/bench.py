#!/usr/bin/env python3
"""Runs one pipeline's chain files through `faasin run` under several transports
and prints a table of medians.

Per round and transport, three chains run: the real one; the "move-only" one
(the same processes, runtimes and byte volumes with the computation taken
out); and the "idle" one (the move-only chain with no data: start-up alone).
The transport order is rotated each round so that drift on this shared
machine hits all transports alike. Each real run's output is checked by
--verify (not timed).

"moving data" = median(move-only) - median(idle): an estimate of what moving
the bytes costs, start-up excluded; "share" is that over the real chain's
median end-to-end time. Streaming transports overlap movement with
computation, so this is what movement costs in CPU and elapsed time when
nothing else runs, not what it adds to the real chain's critical path.

Times come from the runner's JSON report (--report): elapsed_s, and per
function start_s / end_s ("busy" = end - start), first_byte_s, first_in_s.
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ALL_TRANSPORTS = ("faasin", "pipe", "redis", "file")


def runner_transports(faasin: str) -> list[str]:
    """The transports this runner offers: faasin and pipe always; redis and
    file when `faasin run --help` mentions redis."""
    out = subprocess.run([faasin, "run", "--help"], capture_output=True, text=True, timeout=30)
    text = (out.stdout + out.stderr).lower()
    found = ["faasin", "pipe"]
    # Both store-and-forward transports arrive together in the runner.
    if "redis" in text:
        found += ["redis", "file"]
    return found


def run_chain(faasin, chain, transport, input_file, out_path, report_path, timeout, extra, env_over=None):
    argv = [faasin, "run", "-q", "-f", str(chain), "--transport", transport, "--report", str(report_path),
            "-o", str(out_path), "--timeout", str(timeout)]
    argv += ["-i", str(input_file)] if input_file else ["-i", "/dev/null"]
    argv += extra
    env = dict(os.environ, RUN_OUT=str(out_path), **(env_over or {}))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout + 30)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench: {chain.name} over {transport} failed (exit {proc.returncode}): {' '.join(argv)}")
    return json.loads(report_path.read_text())


def first_into(report, name):
    """When the function `name` had its first input byte available, in seconds
    since the runner started: the report's first_in_s for it when the runner
    records one (runners with the store transports do); else the upstream
    function's own clock (`first_frame_out_unix` / `first_out_unix` in its
    return value: it works for pipes too, where the runner sees nothing between
    two functions) or first_byte_s, but never before `name` started."""
    fns = report["functions"]
    idx = next((i for i, f in enumerate(fns) if f["name"] == name), None)
    if idx is None or idx == 0:
        raise SystemExit(f"bench: no function named {name!r} after the first in the chain")
    f, up = fns[idx], fns[idx - 1]
    if f.get("first_in_s") is not None:
        return f["first_in_s"]
    t = None
    rv = up.get("return_value")
    if isinstance(rv, dict):
        for key in ("first_frame_out_unix", "first_out_unix"):
            if rv.get(key) is not None:
                t = rv[key] - report["started_unix_s"]
    if t is None:
        t = up.get("first_byte_s")
    if t is None:
        return None
    return max(t, f["start_s"]) if f.get("start_s") is not None else t


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", required=True)
    ap.add_argument("--chain", type=Path, help="the real chain file")
    ap.add_argument("--move-chain", type=Path, help="the same chain with the computation taken out")
    ap.add_argument("--input", type=Path)
    ap.add_argument("--idle-env", action="append", default=[], metavar="VAR=VALUE",
                    help="the move-only chain with no data (input /dev/null and these variables): start-up alone")
    ap.add_argument("--first-into", required=True, help="function whose first input byte is timed")
    ap.add_argument("--verify", help="shell command run after each real run; env RUN_OUT is its output path")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--faasin", default="faasin")
    ap.add_argument("--json", type=Path, help="also write every report here")
    ap.add_argument("--from-json", type=Path, help="print the table of a saved --json file; run nothing")
    ap.add_argument("transports", nargs="*")
    args = ap.parse_args()
    if args.from_json:
        raw = args.from_json.read_bytes()
        results = json.loads(gzip.decompress(raw) if args.from_json.suffix == ".gz" else raw)
        print_table(args.title, args.first_into, results)
        return
    if args.chain is None:
        ap.error("--chain is required")

    offered = runner_transports(args.faasin)
    wanted = args.transports or offered
    for t in wanted:
        if t not in ALL_TRANSPORTS:
            raise SystemExit(f"bench: unknown transport {t!r} (known: {', '.join(ALL_TRANSPORTS)})")
        if t not in offered:
            raise SystemExit(f"bench: this faasin runner has no --transport {t} (it offers {', '.join(offered)})")
    extra = os.environ.get("PIPELINE_RUNNER_ARGS", "").split()

    idle_env = dict(kv.split("=", 1) for kv in args.idle_env)
    results = {t: {"real": [], "move": [], "idle": []} for t in wanted}
    with tempfile.TemporaryDirectory(prefix="faasin-pipeline-") as tmp:
        tmp = Path(tmp)
        for r in range(args.runs):
            order = wanted[r % len(wanted):] + wanted[: r % len(wanted)]
            for t in order:
                for kind, chain in (("real", args.chain), ("move", args.move_chain), ("idle", args.move_chain)):
                    if chain is None:
                        continue
                    out = tmp / f"{kind}-{t}-{r}.out"
                    idle = kind == "idle"
                    load = Path("/proc/loadavg").read_text().split()[0]
                    rep = run_chain(args.faasin, chain, t, None if idle else args.input, out,
                                    tmp / f"{kind}-{t}-{r}.json", args.timeout, extra, idle_env if idle else None)
                    if kind == "real" and args.verify:
                        v = subprocess.run(args.verify, shell=True, env=dict(os.environ, RUN_OUT=str(out)),
                                           capture_output=True, text=True, timeout=120)
                        if v.returncode != 0:
                            sys.stderr.write(v.stdout + v.stderr)
                            raise SystemExit(f"bench: output of {t} run {r + 1} failed verification")
                        rep["verify"] = v.stdout.strip()
                    rep["loadavg_1min_before"] = float(load)
                    results[t][kind].append(rep)
                    print(f"  round {r + 1}/{args.runs} {t:6} {kind:4} {rep['elapsed_s']:.3f} s", file=sys.stderr)
                    for p in tmp.glob(f"{kind}-{t}-{r}.out*"):
                        p.unlink()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print_table(args.title, args.first_into, results)


def print_table(title, first_into_name, results):
    wanted = list(results)
    runs = len(results[wanted[0]]["real"])
    names = [f["name"] for f in results[wanted[0]]["real"][0]["functions"]]
    loads = [x["loadavg_1min_before"] for t in wanted for x in results[t]["real"] if "loadavg_1min_before" in x]
    print(f"\n### {title}\n")
    print(f"median of {runs} run(s) per row, transports alternated; times in seconds", end="")
    print(f"; 1-min load average before the runs: {min(loads):.1f} to {max(loads):.1f}\n" if loads else "\n")
    base = results.get("faasin", {}).get("real")
    head = ["transport", "end-to-end", "(min-max)", "vs faasin", "idle chain", "move-only chain", "moving data", "share",
            f"first data into {first_into_name}"] + [f"{n} busy" for n in names] + ["verified"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for t in wanted:
        real = results[t]["real"]
        e2e = [x["elapsed_s"] for x in real]
        move = med([x["elapsed_s"] for x in results[t]["move"]])
        idle = med([x["elapsed_s"] for x in results[t]["idle"]])
        moving = move - idle if move is not None and idle is not None else None
        m = med(e2e)
        share = f"{100 * moving / m:.0f}%" if moving is not None and m else "-"
        # Per-round ratios: this machine's load drifts, and a round's runs are close in time.
        ratio = med([x["elapsed_s"] / b["elapsed_s"] for x, b in zip(real, base)]) if base else None
        row = [t, fmt(m), f"{fmt(min(e2e))}-{fmt(max(e2e))}", "-" if ratio is None else f"{ratio:.2f}x", fmt(idle), fmt(move), fmt(moving), share,
               fmt(med([first_into(x, first_into_name) for x in real]), 3)]
        for i in range(len(names)):
            row.append(fmt(med([(f["end_s"] - f["start_s"]) if f.get("end_s") is not None else None
                                for f in (x["functions"][i] for x in real)])))
        row.append(real[-1].get("verify", "-") or "ok")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
