"""faasin.invocations(): a Python function kept warm by `faasin run --warm N`
serves every invocation, and the same file runs one-shot."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

UPPER = """
import json, sys
import faasin
for inv in faasin.invocations():
    data = inv.input.read()
    inv.output.write(data.upper())
    inv.finish(json.dumps({"n": len(data)}))
    try:
        inv.finish(b"again")
    except RuntimeError as e:
        print("second finish:", e, file=sys.stderr)
"""

DIES = """
import os, faasin
for inv in faasin.invocations():
    inv.input.read(10)
    os._exit(3)
"""

PARAMS = """
import faasin
for inv in faasin.invocations():
    inv.input.read()
    inv.finish(inv.params if inv.params is not None else "<none>")
"""


def run(runner: str, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([runner, "run", *args], input=stdin, capture_output=True, timeout=120)


def test_a_warm_python_function_serves_every_invocation(runner: str, tmp_path: Path) -> None:
    fn = tmp_path / "upper.py"
    fn.write_text(UPPER)
    data = bytes(random.Random(4).choice(b"abcdefgh \n") for _ in range(300_000))
    (tmp_path / "in").write_bytes(data)
    cmd = f"{sys.executable} {fn}"
    p = run(runner, ["--warm", "3", "--capacity", "65536", "-i", str(tmp_path / "in"),
                     "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.json"),
                     cmd, f"{runner} cat", cmd])
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "out").read_bytes() == data.upper() * 3
    r = json.loads((tmp_path / "r.json").read_text())
    assert len(r["invocations"]) == 3
    for inv in r["invocations"]:
        assert inv["return_values"][0] == {"n": len(data)}
        assert inv["return_values"][2] == {"n": len(data)}
    # Each of the two Python functions was told, each time, that an
    # invocation finishes once.
    assert p.stderr.decode().count("second finish: this invocation was already finished") == 6


def test_the_same_file_runs_one_shot(runner: str, tmp_path: Path) -> None:
    fn = tmp_path / "upper.py"
    fn.write_text(UPPER)
    p = run(runner, ["--report", str(tmp_path / "r.json"), f"{sys.executable} {fn}"],
            stdin=b"one shot")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"ONE SHOT"
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["functions"][0]["return_value"] == {"n": 8}


def test_a_warm_function_that_dies_mid_invocation_fails_the_run(runner: str,
                                                                tmp_path: Path) -> None:
    fn = tmp_path / "dies.py"
    fn.write_text(DIES)
    (tmp_path / "in").write_bytes(b"x" * 100_000)
    p = run(runner, ["--warm", "2", "-i", str(tmp_path / "in"), "-o", "/dev/null",
                     f"{runner} cat", f"{sys.executable} {fn}"])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "function 2 (" in err and ("broke off" in err or "ended (exit 3)" in err), err


def test_a_warm_function_gets_the_parameters_the_runner_granted(peer: str,
                                                                tmp_path: Path) -> None:
    fn = tmp_path / "params.py"
    fn.write_text(PARAMS)
    # The peer plays the runner: one invocation per argument ("": none).
    params = ['{"query": {"q": "ä"}}', "", "p" * 60_000]
    p = subprocess.run([peer, "runner", *params, "--", sys.executable, str(fn)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().splitlines() == [params[0], "<none>", params[2]]


def test_a_one_shot_function_takes_its_parameters_from_the_env(tmp_path: Path) -> None:
    fn = tmp_path / "params.py"
    fn.write_text(PARAMS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAASIN")}
    # Input from the empty stdin; the output stream (unused) on stderr.
    env.update(FAASIN_FD="0", FAASOUT_FD="2")
    for value, want in [(None, "<none>"), ("", "<none>"), ('{"a": "ü"}', '{"a": "ü"}')]:
        e = env if value is None else {**env, "FAASIN_PARAMS": value}
        p = subprocess.run([sys.executable, str(fn)], env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        assert p.stdout.decode() == want
        code = "import faasin; print(repr(faasin.params()))"
        p = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, timeout=60)
        assert p.stdout.decode().strip() == repr(value or None), p.stderr.decode()
