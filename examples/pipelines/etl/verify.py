#!/usr/bin/env python3
"""Checks the ETL report against aggregates computed here, independently,
straight from the CSV with the csv module (not from the pipeline's records).

Usage: verify.py INPUT.csv REPORT.txt
The expected aggregates are cached next to the CSV (INPUT.csv.expected.json,
keyed by the CSV's size and mtime), since reading 2 million lines with the
csv module takes a while and every run of a benchmark checks its output.
"""

import csv
import json
import os
import sys
from pathlib import Path


def mean_ms(sum_us: int, count: int) -> str:
    thousandths = (sum_us * 1000 + 500 * count) // (1000 * count)
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"


def expected(csv_path: Path) -> dict:
    st = csv_path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}"
    cache = csv_path.with_name(csv_path.name + ".expected.json")
    if cache.exists():
        doc = json.loads(cache.read_text())
        if doc.get("key") == key:
            return doc
    groups: dict[str, list[int]] = {}
    hours = [0] * 24
    with open(csv_path, newline="") as f:
        rows = csv.reader(f)
        if next(rows) != ["ts", "user_id", "country", "endpoint", "status", "latency_ms", "bytes"]:
            sys.exit("verify: unexpected CSV header")
        for ts, _user, country, endpoint, status, latency, nbytes in rows:
            ms, us = latency.split(".")
            lat = int(ms) * 1000 + int(us)
            g = groups.setdefault(f"{country} {endpoint}", [0, 0, 0, 0, 0])
            g[0] += 1
            g[1] += int(status) >= 500
            g[2] += lat
            g[3] = max(g[3], lat)
            g[4] += int(nbytes)
            hours[int(ts[11:13])] += 1
    doc = {"key": key, "groups": groups, "hours": hours}
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    tmp.replace(cache)
    return doc


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: verify.py INPUT.csv REPORT.txt")
    want = expected(Path(sys.argv[1]))
    lines = Path(sys.argv[2]).read_text().splitlines()
    got_rows = {}
    hours = None
    for line in lines:
        f = line.split()
        if len(f) == 7 and f[0] != "country":
            got_rows[f"{f[0]} {f[1]}"] = f[2:]
        elif line.startswith("requests per hour: "):
            hours = [int(x) for x in line.split(": ", 1)[1].split()]
    rows = {k: [str(c), str(e), mean_ms(s, c), mean_ms(m, 1), str(b)] for k, (c, e, s, m, b) in want["groups"].items()}
    bad = [k for k in rows.keys() | got_rows.keys() if rows.get(k) != got_rows.get(k)]
    if bad:
        k = sorted(bad)[0]
        sys.exit(f"verify: {len(bad)} group(s) differ, e.g. {k!r}: report {got_rows.get(k)}, expected {rows.get(k)}")
    if hours != want["hours"]:
        sys.exit(f"verify: requests per hour differ: report {hours}, expected {want['hours']}")
    total = sum(c for c, *_ in want["groups"].values())
    print(f"{len(rows)} groups, {total} rows match")


if __name__ == "__main__":
    main()
