"""What a Python user would pick on one host instead: the same three
pass-through functions as Ray tasks, each handing its output to the next
through Ray's shared-memory object store (benches/platform/bench.py drives
this as a child process).

One invocation: `ray.put` the payload, three chained tasks on the object
refs, `ray.get` the result, timed from the put to the get. Payloads are
numpy uint8 arrays, which Ray reads from its store without a copy (objects
under 100 KiB are passed inline instead).

Protocol on stdin/stdout, one JSON line each way: after `ray.init()` it
prints {"ready": ...}; then for each line "SIZE N" it runs one unmeasured
invocation (checked), then N measured ones, and prints {"times_s": [...]}.
"""

import json
import sys
import time

import numpy as np
import ray


@ray.remote
def passthrough(x):
    return x


def invoke(payload):
    ref = ray.put(payload)
    for _ in range(3):
        ref = passthrough.remote(ref)
    return ray.get(ref)


def main():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", object_store_memory=2 << 30)
    print(json.dumps({"ready": True, "ray": ray.__version__}), flush=True)
    for line in sys.stdin:
        size, n = (int(w) for w in line.split())
        payload = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
        out = invoke(payload)
        if out.nbytes != size or not np.array_equal(out, payload):
            print(json.dumps({"error": f"{size} bytes in, {out.nbytes} different bytes out"}),
                  flush=True)
            continue
        del out
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = invoke(payload)
            times.append(time.perf_counter() - t0)
            del out
        print(json.dumps({"size": size, "times_s": times}), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
