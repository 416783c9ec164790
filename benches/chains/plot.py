#!/usr/bin/env python3
"""Chain time vs payload size per transport (log-log), from the summary that
benches/chains/bench.py writes.  Usage: plot.py SUMMARY.json OUT.png"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"faasin": ("FAASIN ring", "o", "C0"), "redis": ("Redis SET/GET", "s", "C3"),
         "file": ("file on tmpfs", "^", "C2"), "pipe": ("OS pipe", "D", "C7")}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    d = json.load(open(src))
    sizes = d["sizes"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, key, title in ((axes[0], "e2e_s", "End-to-end time, A -> B"),
                           (axes[1], "first_byte_s", "Time until B has its first byte")):
        for t, (label, marker, color) in STYLE.items():
            xs, ys, lo, hi = [], [], [], []
            for s in sizes:
                st = d["summary"]["hop"][str(s)].get(t, {}).get(key)
                if st:
                    xs.append(s)
                    ys.append(st["median"] * 1e3)
                    lo.append((st["median"] - st["min"]) * 1e3)
                    hi.append((st["max"] - st["median"]) * 1e3)
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], label=label, marker=marker,
                            color=color, capsize=3)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("payload (bytes)")
        ax.set_ylabel("ms (median, min-max bars)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    load = " ".join(d.get("loadavg_end", []))
    fig.suptitle(f"faasin run: one hop, {d.get('small_reps', d['reps'])} repetitions per point "
                 f"under 64 MiB, {d['reps']} from 64 MiB "
                 f"(2 shared cores, load average {load})", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
