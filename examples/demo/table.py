#!/usr/bin/env python3
"""Prints the demo's table from the runner's JSON reports (`faasin run
--report`), one row per transport, medians over the rounds, and fails when
any run lost or changed a byte.

    python3 table.py REPORT.json...     (scripts/demo.sh passes every round's)

Columns:
- end-to-end: the runner's `elapsed_s` (start of the first function until
  the chain's output is out);
- first byte at the end: when the last function got its first byte, by its
  own clock (`first_byte_unix_s` in its return value), so it is exact on
  every transport, pipes included;
- bytes moved: what the functions wrote to their successors (each one's
  return value says how much it forwarded);
- peak memory: the peak RSS of every function, of the runner and of a
  private redis-server, plus, for files, what sat in tmpfs (RAM) at the end.
"""

import json
import statistics
import sys
from collections import defaultdict

LABELS = {
    "faasin": "FAASIN rings",
    "redis": "Redis hand-off",
    "file": "files (tmpfs)",
    "pipe": "pipes",
}


def check(report: dict, path: str) -> int:
    """The bytes the run moved between functions; exits if any were lost or
    changed (the last function's checksum must be the first one's)."""
    fns = report["functions"]
    if not report["ok"]:
        sys.exit(f"demo: {path}: the chain failed: {report.get('error')}")
    values = [f["return_value"] for f in fns]
    if not all(isinstance(v, dict) and "bytes" in v for v in values):
        sys.exit(f"demo: {path}: a function returned no byte count: {values}")
    sent = values[0]["bytes"]
    if any(v["bytes"] != sent for v in values) or values[0]["sum"] != values[-1]["sum"]:
        sys.exit(f"demo: {path}: bytes were lost or changed on the way: {values}")
    return sent * (len(fns) - 1)


def peak_memory(report: dict, moved: int) -> int:
    rss = sum(f["max_rss_bytes"] or 0 for f in report["functions"])
    rss += report.get("runner_max_rss_bytes") or 0
    store = report.get("store") or {}
    rss += store.get("server_max_rss_bytes") or 0
    if report["transport"] == "file":
        rss += moved  # every stored output stays in tmpfs until the chain ends
    return rss


def first_byte_at_end(report: dict) -> float | None:
    """None when no byte reached the last function (an empty payload)."""
    t = report["functions"][-1]["return_value"].get("first_byte_unix_s")
    return None if t is None else t - report["started_unix_s"]


def seconds(xs: list[float | None]) -> str:
    known = [x for x in xs if x is not None]
    return f"{statistics.median(known):.2f} s" if known else "-"


def size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.0f} {units[i]}" if i < 2 else f"{n:.1f} {units[i]}"


def main() -> None:
    paths = sys.argv[1:]
    if not paths:
        sys.exit("usage: table.py REPORT.json...")
    rows: dict[str, list[tuple[float, float | None, int, int]]] = defaultdict(list)
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        moved = check(report, path)
        rows[report["transport"]].append(
            (report["elapsed_s"], first_byte_at_end(report), moved, peak_memory(report, moved))
        )
    base = statistics.median(r[0] for r in rows["faasin"]) if "faasin" in rows else None
    print("| transport | end-to-end | vs FAASIN | first byte at the end | bytes moved | peak memory |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in LABELS:
        if t not in rows:
            continue
        runs = rows[t]
        elapsed = statistics.median(r[0] for r in runs)
        ratio = f"{elapsed / base:.1f}x" if base else "-"
        print(
            f"| {LABELS[t]} | {elapsed:.2f} s | {ratio} | {seconds([r[1] for r in runs])}"
            f" | {size(max(r[2] for r in runs))} | {size(statistics.median(r[3] for r in runs))} |"
        )


if __name__ == "__main__":
    main()
