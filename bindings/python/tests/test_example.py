"""examples/python: producer -> consumer chained through a FAASIN stream."""

import json
import subprocess
import sys

from conftest import ROOT

EXAMPLES = ROOT / "examples" / "python"


def test_producer_consumer_chain() -> None:
    n = 100_000  # about 2.5 MB of records: more than the 1 MiB ring holds
    p = subprocess.run([sys.executable, str(EXAMPLES / "run.py"), str(n)],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["producer"] == {"produced": n}
    assert out["consumer"] == {"count": n, "sum": sum(i * i % 97 for i in range(n))}


def test_consumer_runs_in_a_plain_shell_pipe() -> None:
    # FAASIN_FD=0: the same function reads an ordinary pipe.
    records = "".join(f'{{"value": {i}}}\\n' for i in range(10))
    cmd = f"printf '{records}' | FAASIN_FD=0 {sys.executable} {EXAMPLES / 'consumer.py'}"
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"count": 10, "sum": 45}
