#!/usr/bin/env python3
"""ETL stage 2: 16-byte records from faasin (see Parse.java), aggregated per
(country, endpoint), per hour and per status; one JSON document to faasout.

Usage: aggregate.py DIMS.txt [--null]
--null reads the same records and writes an empty aggregate without
computing: the move-only variant used to time the data movement.
Records are read with readinto() into a preallocated numpy structured array
(one copy, ring -> array; numpy then works on the array in place).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import faasin

RECORD = np.dtype(
    [("country", "<u2"), ("endpoint", "<u2"), ("status", "<u2"), ("hour", "<u2"), ("latency_us", "<u4"), ("bytes", "<u4")]
)
CHUNK = 65_536  # records per read: 1 MiB


def main() -> None:
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--null"):
        sys.exit("usage: aggregate.py DIMS.txt [--null]")
    null = len(sys.argv) == 3
    countries, endpoints = (line.split(",") for line in Path(sys.argv[1]).read_text().split())
    nc, ne = len(countries), len(endpoints)
    groups = nc * ne

    count = np.zeros(groups, np.int64)
    errors = np.zeros(groups, np.int64)
    nbytes = np.zeros(groups, np.int64)
    lat_sum = np.zeros(groups, np.int64)
    lat_max = np.zeros(groups, np.int64)
    hours = np.zeros(24, np.int64)
    statuses: dict[int, int] = {}

    src = faasin.input
    chunk = np.empty(CHUNK, RECORD)
    raw = chunk.view(np.uint8)  # the same memory as bytes, for readinto
    records = 0
    first_in = None
    while True:
        got = 0
        while got < len(raw):
            n = src.readinto(raw[got:])
            if not n:
                break
            got += n
        if got % RECORD.itemsize:
            sys.exit(f"aggregate: input ends inside a record ({records * RECORD.itemsize + got} bytes)")
        k = got // RECORD.itemsize
        if k and first_in is None:
            first_in = time.time()
        if k and not null:
            r = chunk[:k]
            if r["country"].max() >= nc or r["endpoint"].max() >= ne or r["hour"].max() >= 24:
                sys.exit(f"aggregate: record out of range near record {records}")
            g = r["country"].astype(np.intp) * ne + r["endpoint"]
            count += np.bincount(g, minlength=groups)
            errors += np.bincount(g, weights=r["status"] >= 500, minlength=groups).astype(np.int64)
            # Float sums of integers are exact below 2**53; these stay far below it.
            nbytes += np.bincount(g, weights=r["bytes"], minlength=groups).astype(np.int64)
            lat_sum += np.bincount(g, weights=r["latency_us"], minlength=groups).astype(np.int64)
            np.maximum.at(lat_max, g, r["latency_us"].astype(np.int64))
            hours += np.bincount(r["hour"], minlength=24)
            codes, n_codes = np.unique(r["status"], return_counts=True)
            for c, n in zip(codes.tolist(), n_codes.tolist()):
                statuses[c] = statuses.get(c, 0) + n
        records += k
        if got < len(raw):
            break

    rows = []
    for gi in np.flatnonzero(count).tolist():
        rows.append(
            {
                "country": countries[gi // ne],
                "endpoint": endpoints[gi % ne],
                "count": int(count[gi]),
                "errors": int(errors[gi]),
                "bytes": int(nbytes[gi]),
                "latency_us_sum": int(lat_sum[gi]),
                "latency_us_max": int(lat_max[gi]),
            }
        )
    doc = {"records": records, "groups": rows, "hours": hours.tolist(), "status": {str(k): v for k, v in sorted(statuses.items())}}
    out = faasin.output
    out.write(json.dumps(doc).encode())
    first_out = time.time()
    out.close()
    json.dump({"records": records, "groups": len(rows), "first_in_unix": first_in, "first_out_unix": first_out}, sys.stdout)


if __name__ == "__main__":
    main()
