"""No leaks over many pipes; the stub matches the module; asyncio helpers."""

import asyncio
import gc
import hashlib
import os
import subprocess
import sys

import faasin
import faasin.aio


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def ring_maps() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if "faasin-ring" in line or "memfd:" in line)


def test_10000_pipes_no_fd_or_mapping_leak() -> None:
    gc.collect()
    fd0, maps0 = fds(), ring_maps()
    for i in range(10_000):
        r, w = faasin.pipe(4096)
        if i % 3 == 0:
            w.write(b"x")
            with r.borrow() as view:
                assert bytes(view) == b"x"
        if i % 5 == 0:
            rfd, wfd = faasin.pipe_fds(4096)
            faasin.open_reader(rfd)
            os.close(wfd)
        if i == 5000:  # the leak would show long before the end
            assert ring_maps() - maps0 < 50
        del r, w
    gc.collect()
    assert fds() == fd0
    assert ring_maps() == maps0


def test_live_pipes_are_counted() -> None:
    # The counters above would see a leak: live pipes show up in both.
    gc.collect()
    fd0, maps0 = fds(), ring_maps()
    ends = [faasin.pipe(4096) for _ in range(10)]
    assert fds() >= fd0 + 20
    assert ring_maps() >= maps0 + 10
    del ends
    gc.collect()
    assert fds() == fd0 and ring_maps() == maps0


def test_stubtest() -> None:
    p = subprocess.run([sys.executable, "-m", "mypy.stubtest", "faasin._faasin"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def test_aio_round_trip_over_add_reader() -> None:
    data = os.urandom(8 << 20)

    async def main() -> bytes:
        r, w = faasin.pipe(1 << 16)

        async def produce() -> None:
            for i in range(0, len(data), 100_000):
                await faasin.aio.write(w, memoryview(data)[i : i + 100_000])
            w.close()

        task = asyncio.create_task(produce())
        got = hashlib.sha256()
        async for chunk in faasin.aio.chunks(r):
            got.update(chunk)
        await task
        return got.digest()

    # wait_for: a lost wake-up fails the test instead of hanging it.
    assert asyncio.run(asyncio.wait_for(main(), 60)) == hashlib.sha256(data).digest()


def test_aio_readinto_and_read_all() -> None:
    async def main() -> tuple[int, bytes]:
        r, w = faasin.pipe(4096)
        buf = bytearray(10)
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, w.write, b"0123456789abc")
        n = await faasin.aio.readinto(r, buf)
        loop.call_later(0.05, w.close)
        rest = await faasin.aio.read_all(r)
        return n, bytes(buf[:n]) + rest

    n, got = asyncio.run(asyncio.wait_for(main(), 60))
    assert 0 < n <= 10 and got == b"0123456789abc"
