import os
import subprocess
import sys
from pathlib import Path

import pytest

import faasin

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CHILD = str(HERE / "child.py")


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


@pytest.fixture(scope="session")
def peer() -> str:
    """The Rust test peer (core/examples/peer.rs), built if missing."""
    path = target_dir() / "release" / "examples" / "peer"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "faasin", "--example", "peer"],
            cwd=ROOT,
            check=True,
            timeout=600,
        )
    return str(path)


def py(*args: str) -> list[str]:
    return [sys.executable, CHILD, *args]


def chain(writer_cmd: list[str], reader_cmd: list[str], capacity: int = faasin.DEFAULT_CAPACITY,
          timeout: float = 240) -> tuple[str, str]:
    """Runs a writer and a reader process joined by a FAASIN stream; returns
    their stdout lines."""
    rfd, wfd = faasin.pipe_fds(capacity)
    try:
        w = subprocess.Popen(writer_cmd, pass_fds=[wfd], stdout=subprocess.PIPE,
                             env={**os.environ, "FAASOUT_FD": str(wfd)})
        r = subprocess.Popen(reader_cmd, pass_fds=[rfd], stdout=subprocess.PIPE,
                             env={**os.environ, "FAASIN_FD": str(rfd)})
    finally:
        os.close(rfd)
        os.close(wfd)
    try:
        wout, _ = w.communicate(timeout=timeout)
        rout, _ = r.communicate(timeout=timeout)
    finally:
        for p in (w, r):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert w.returncode == 0, f"writer failed: {writer_cmd}"
    assert r.returncode == 0, f"reader failed: {reader_cmd}"
    return wout.decode().strip(), rout.decode().strip()


@pytest.fixture(scope="session")
def runner() -> str:
    """The chain runner (`faasin`, cli/), built if missing."""
    path = target_dir() / "release" / "faasin"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "faasin-cli"],
            cwd=ROOT,
            check=True,
            timeout=900,
        )
    return str(path)
