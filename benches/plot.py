#!/usr/bin/env python3
"""Throughput vs write size, one line per transport, from the JSON that
`compare` writes (target/bench-results/compare.json). Median with min-max
error bars.

usage: python3 benches/plot.py [compare.json] [out.png]
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GIB = float(1 << 30)
STYLE = {
    "faasin-copy": dict(color="tab:red", linewidth=2.5, marker="o"),
    "faasin-zero-copy": dict(color="tab:red", linewidth=2.5, marker="o", linestyle="--"),
    "memcpy": dict(color="black", linestyle=":", marker="."),
    "bare-stream": dict(color="grey", linestyle="-.", marker="."),
    # Every other row gets its own colour, none of them red: red is FAASIN's.
    "pipe": dict(color="tab:blue", marker="o"),
    "pipe-1MiB": dict(color="tab:orange", marker="o"),
    "unix-socket": dict(color="tab:green", marker="o"),
    "tcp-loopback": dict(color="tab:olive", marker="o"),
    "redis": dict(color="tab:pink", marker="o"),
    "iceoryx2": dict(color="tab:purple", marker="o"),
    "shmem-ipc": dict(color="tab:brown", marker="o"),
}


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target/bench-results/compare.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "docs/img/throughput.png"
    data = json.loads(src.read_text())
    series: dict[str, list[tuple[int, list[float]]]] = {}
    for row in data["rows"]:
        if row["kind"] != "throughput" or not row["values"]:
            continue
        series.setdefault(row["transport"], []).append((row["size"], row["values"]))
    if not series:
        print(f"{src}: no throughput rows with values", file=sys.stderr)
        return 1

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, points in series.items():
        points.sort()
        xs = [p[0] for p in points]
        med = [statistics.median(p[1]) / GIB for p in points]
        lo = [m - min(p[1]) / GIB for m, p in zip(med, points)]
        hi = [max(p[1]) / GIB - m for m, p in zip(med, points)]
        style = STYLE.get(name, dict(marker="o"))
        ax.errorbar(xs, med, yerr=[lo, hi], label=name, capsize=3, **style)
    s = data["settings"]
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted({p[0] for pts in series.values() for p in pts})
    ax.set_xticks(sizes, [f"{n >> 10} KiB" if n < 1 << 20 else f"{n >> 20} MiB" for n in sizes])
    ax.set_xlabel("write size")
    ax.set_ylabel("GiB/s (median, bars = min-max)")
    ax.set_title(
        f"Two processes, {s['total_bytes'] >> 20} MiB per measurement "
        f"(Redis {s['redis_total_bytes'] >> 20} MiB), {s['reps']} repetitions"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
