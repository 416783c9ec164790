#!/usr/bin/env python3
"""Writes a deterministic web access log as CSV: the ETL pipeline's input.

Usage: gen.py LINES OUT.csv [SEED]
Columns: ts,user_id,country,endpoint,status,latency_ms,bytes
The same LINES and SEED always give the same bytes (random.Random is seeded
and its algorithm is fixed across CPython versions for these calls).
"""

import random
import sys
from pathlib import Path

STATUSES = [200] * 80 + [201] * 5 + [304] * 7 + [404] * 5 + [500] * 2 + [503] * 1


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: gen.py LINES OUT.csv [SEED]")
    lines = int(sys.argv[1])
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 8
    countries, endpoints = (line.split(",") for line in (Path(__file__).parent / "dims.txt").read_text().split())
    rng = random.Random(seed)
    rand = rng.random
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    with open(sys.argv[2], "w", encoding="ascii", newline="\n") as out:
        out.write("ts,user_id,country,endpoint,status,latency_ms,bytes\n")
        batch = []
        for i in range(lines):
            t = start + (i * 86_400) // lines
            hh, mm, ss = (t // 3600) % 24, (t // 60) % 60, t % 60
            latency_us = int(500 + 200_000 * rand() ** 3)
            batch.append(
                f"2026-01-01T{hh:02d}:{mm:02d}:{ss:02d}Z,{int(rand() * 100_000)},"
                f"{countries[int(rand() * len(countries))]},{endpoints[int(rand() * len(endpoints))]},"
                f"{STATUSES[int(rand() * len(STATUSES))]},{latency_us // 1000}.{latency_us % 1000:03d},"
                f"{int(200 + 60_000 * rand() ** 2)}\n"
            )
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


if __name__ == "__main__":
    main()
