"""Python-to-Python throughput between two processes: FAASIN (readinto, and
zero-copy borrow) against os.pipe(), socket.socketpair() and
multiprocessing.Pipe(), side by side in one run.

    python benches/python_throughput.py [--total-mib 512] [--reps 5]

Each cell is the median over the repetitions of bytes / time, timed by the
reading process from its first read call to EOF. The writer sends the same
random chunk over and over; the reader receives into one reusable buffer
(or, for borrow, takes a view of the ring in place and releases it without
reading the bytes: that row is the transport's cost alone, while readinto
also copies every byte out). Numbers depend on the machine
and its load: run it on an idle machine to compare.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import struct
import time
from typing import Callable, Optional

import faasin

Setup = Callable[[], tuple[Callable[[], None], Callable[[], None], Callable[[int, int], float]]]


def run_pair(write: Callable[[int, int], None], read: Callable[[int], float],
             close_in_writer: Callable[[], object], close_in_reader: Callable[[], object],
             close_in_parent: Callable[[], object], chunk: int, total: int) -> float:
    """Forks a writer and a reader; returns the reader's seconds."""
    res_r, res_w = os.pipe()
    wpid = os.fork()
    if wpid == 0:
        code = 0
        try:
            os.close(res_r)
            os.close(res_w)
            close_in_writer()
            write(chunk, total)
        except BaseException:
            code = 1
        os._exit(code)
    rpid = os.fork()
    if rpid == 0:
        code = 0
        try:
            os.close(res_r)
            close_in_reader()
            secs = read(chunk)
            os.write(res_w, struct.pack("d", secs))
        except BaseException:
            code = 1
        os._exit(code)
    os.close(res_w)
    close_in_parent()
    data = os.read(res_r, 8)
    os.close(res_r)
    for pid in (wpid, rpid):
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("a benchmark process failed")
    if len(data) != 8:
        raise RuntimeError("the reader reported nothing")
    return float(struct.unpack("d", data)[0])


def close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


def close_all(*objs: socket.socket | multiprocessing.connection.Connection) -> None:
    for o in objs:
        o.close()


def payload(chunk: int) -> bytes:
    return os.urandom(chunk)


def send_repeated(send: Callable[[bytes], object], close: Callable[[], object],
                  chunk: int, total: int) -> None:
    """Sends one random chunk over and over until total bytes are out, then closes."""
    data = payload(chunk)
    for _ in range(total // chunk):
        send(data)
    close()


def timed_drain(readinto: Callable[[bytearray], Optional[int]], chunk: int,
                total: int) -> float:
    """Reads to EOF (0) into one reusable buffer; returns the seconds."""
    buf = bytearray(chunk)
    got = 0
    t = time.perf_counter()
    while n := readinto(buf):
        got += n
    secs = time.perf_counter() - t
    assert got == total, (got, total)
    return secs


def bench_faasin(mode: str, chunk: int, total: int) -> float:
    rfd, wfd = faasin.pipe_fds(faasin.DEFAULT_CAPACITY)

    def write(chunk: int, total: int) -> None:
        w = faasin.Writer.from_fd(wfd)
        send_repeated(w.write, w.close, chunk, total)

    def read(chunk: int) -> float:
        r = faasin.Reader.from_fd(rfd)
        if mode != "borrow":
            return timed_drain(r.readinto, chunk, total)
        got = 0
        t = time.perf_counter()
        while True:
            with r.borrow(chunk) as view:
                n = len(view)
            if not n:
                break
            got += n
        secs = time.perf_counter() - t
        assert got == total, (got, total)
        return secs

    return run_pair(write, read, lambda: os.close(rfd), lambda: os.close(wfd),
                    lambda: close_fds(rfd, wfd), chunk, total)


def bench_os_pipe(chunk: int, total: int) -> float:
    rfd, wfd = os.pipe()

    def write(chunk: int, total: int) -> None:
        f = open(wfd, "wb", buffering=0)
        send_repeated(f.write, f.close, chunk, total)  # a blocking pipe takes all of each write

    def read(chunk: int) -> float:
        return timed_drain(open(rfd, "rb", buffering=0).readinto, chunk, total)

    return run_pair(write, read, lambda: os.close(rfd), lambda: os.close(wfd),
                    lambda: close_fds(rfd, wfd), chunk, total)


def bench_socketpair(chunk: int, total: int) -> float:
    a, b = socket.socketpair()

    def write(chunk: int, total: int) -> None:
        send_repeated(a.sendall, a.close, chunk, total)

    def read(chunk: int) -> float:
        return timed_drain(b.recv_into, chunk, total)

    return run_pair(write, read, b.close, a.close, lambda: close_all(a, b), chunk, total)


def bench_mp_pipe(chunk: int, total: int) -> float:
    rc, wc = multiprocessing.Pipe(duplex=False)

    def write(chunk: int, total: int) -> None:
        send_repeated(wc.send_bytes, wc.close, chunk, total)

    def recv(buf: bytearray) -> int:
        try:
            return rc.recv_bytes_into(buf)
        except EOFError:
            return 0

    def read(chunk: int) -> float:
        return timed_drain(recv, chunk, total)

    return run_pair(write, read, rc.close, wc.close, lambda: close_all(rc, wc), chunk, total)


METHODS: dict[str, Callable[[int, int], float]] = {
    "faasin readinto": lambda c, t: bench_faasin("readinto", c, t),
    "faasin borrow": lambda c, t: bench_faasin("borrow", c, t),
    "os.pipe readinto": bench_os_pipe,
    "socketpair recv_into": bench_socketpair,
    "mp.Pipe recv_bytes_into": bench_mp_pipe,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total-mib", type=int, default=512, help="bytes per repetition")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    chunks = [64 << 10, 1 << 20]
    total = args.total_mib << 20
    print(f"{args.total_mib} MiB per run, median of {args.reps} runs, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    header = f"{'method':<26}" + "".join(f"{f'{c >> 10} KiB: median (range)':>28}" for c in chunks)
    print(header)
    print("-" * len(header))
    # Rounds alternate the methods, so that the machine's drift (its cores
    # move between near and far states) hits every row alike.
    secs: dict[tuple[str, int], list[float]] = {(n, c): [] for n in METHODS for c in chunks}
    for _ in range(args.reps):
        for name, fn in METHODS.items():
            for c in chunks:
                secs[(name, c)].append(fn(c, total))
    results: dict[str, list[float]] = {}
    for name in METHODS:
        row = [total / statistics.median(secs[(name, c)]) / 1e9 for c in chunks]
        spread = [f"{total / max(secs[(name, c)]) / 1e9:.1f}-{total / min(secs[(name, c)]) / 1e9:.1f}"
                  for c in chunks]
        results[name] = row
        print(f"{name:<26}" + "".join(f"{v:>12.2f} GB/s {s:>10}" for v, s in zip(row, spread)))
    base = results["os.pipe readinto"]
    print("-" * len(header))
    for name in ("faasin readinto", "faasin borrow"):
        print(f"{name + ' / os.pipe':<26}" +
              "".join(f"{v / b:>27.1f}x" for v, b in zip(results[name], base)))


if __name__ == "__main__":
    main()
