"""Chains producer.py into consumer.py through a FAASIN stream, the way a
runner does: one pipe_fds() pair, each end inherited by one process.

    python examples/python/run.py 1000
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import faasin

HERE = Path(__file__).resolve().parent


def run(n: int) -> tuple[dict[str, int], dict[str, int]]:
    rfd, wfd = faasin.pipe_fds()
    try:
        producer = subprocess.Popen(
            [sys.executable, str(HERE / "producer.py"), str(n)],
            pass_fds=[wfd], stdout=subprocess.PIPE,
            env={**os.environ, "FAASOUT_FD": str(wfd)},
        )
        consumer = subprocess.Popen(
            [sys.executable, str(HERE / "consumer.py")],
            pass_fds=[rfd], stdout=subprocess.PIPE,
            env={**os.environ, "FAASIN_FD": str(rfd)},
        )
    finally:
        os.close(rfd)  # only the children hold the stream now
        os.close(wfd)
    pout, _ = producer.communicate(timeout=120)
    cout, _ = consumer.communicate(timeout=120)
    if producer.returncode or consumer.returncode:
        raise SystemExit(f"chain failed: producer {producer.returncode}, consumer {consumer.returncode}")
    return json.loads(pout), json.loads(cout)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    produced, consumed = run(n)
    print(json.dumps({"producer": produced, "consumer": consumed}))
