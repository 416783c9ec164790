#!/usr/bin/env python3
"""Prints the table of the last `cargo bench -p faasin-benches --bench transports`
run from criterion's estimates: throughput per write size and 64-byte round
trips, each with its ratio to FAASIN measured in the same run."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def median_ns(path: pathlib.Path) -> tuple[float, float, float]:
    est = json.loads((path / "new" / "estimates.json").read_text())
    m = est["median"]
    return m["point_estimate"], m["confidence_interval"]["lower_bound"], m["confidence_interval"]["upper_bound"]


def main() -> int:
    tp = root / "throughput"
    if not tp.is_dir():
        print(f"no criterion results under {root}; run the bench first", file=sys.stderr)
        return 1
    sizes = sorted({int(p.name) for t in tp.iterdir() if t.is_dir() and t.name != "report" for p in t.iterdir() if p.name.isdigit()})
    names = ["faasin-zero-copy", "faasin-copy", "pipe", "pipe-1MiB", "unix-socket"]
    print("Throughput, GB/s (median, [95% CI of the median]); ratio = row / faasin-copy")
    print("| transport | " + " | ".join(f"{s // 1024} KiB" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    base = {}
    for s in sizes:
        base[s] = s / median_ns(tp / "faasin-copy" / str(s))[0]
    for n in names:
        cells = []
        for s in sizes:
            d = tp / n / str(s)
            if not d.is_dir():
                cells.append("-")
                continue
            med, lo, hi = median_ns(d)
            gbs = s / med
            cells.append(f"{gbs:.2f} [{s / hi:.2f}-{s / lo:.2f}] ({gbs / base[s]:.2f}x)")
        print(f"| {n} | " + " | ".join(cells) + " |")
    rtt = root / "rtt64"
    if rtt.is_dir():
        print()
        print("64-byte round trip, µs (median); ratio = row / faasin-spinning")
        print("| transport | µs | ratio |")
        print("| --- | --- | --- |")
        rows = [p.name for p in sorted(rtt.iterdir()) if (p / "new").is_dir()]
        spin = median_ns(rtt / "faasin-spinning")[0] if "faasin-spinning" in rows else None
        order = ["bare-shm-pingpong", "faasin-spinning", "faasin-default-spin", "faasin-blocking", "pipe", "unix-socket"]
        for n in [r for r in order if r in rows] + [r for r in rows if r not in order]:
            med = median_ns(rtt / n)[0]
            ratio = f"{med / spin:.2f}x" if spin else "-"
            print(f"| {n} | {med / 1000:.3f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
