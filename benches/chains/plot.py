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
    panels = [("hop", "e2e_s", "One-shot: end-to-end time, A -> B"),
              ("hop", "first_byte_s", "One-shot: time until B has its first byte")]
    if d["summary"].get("warm_hop"):
        panels += [("warm_hop", "e2e_s", "Warm functions: per invocation, A -> B"),
                   ("warm_hop", "first_byte_s", "Warm: until B has its first byte")]
    rows = (len(panels) + 1) // 2
    fig, grid = plt.subplots(rows, 2, figsize=(11, 4.4 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax, (part, key, title) in zip(axes, panels):
        for t, (label, marker, color) in STYLE.items():
            xs, ys, lo, hi = [], [], [], []
            for s in sizes:
                st = d["summary"][part][str(s)].get(t, {}).get(key)
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
    fig.suptitle(f"faasin run: one hop, {d.get('small_reps', d['reps'])} one-shot repetitions "
                 f"per point under 64 MiB, {d['reps']} from 64 MiB;\nwarm: "
                 f"{d.get('warm_rounds', '-')} runs of {d.get('warm_n', '-')} invocations "
                 f"(2 shared cores, load average {load})", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
