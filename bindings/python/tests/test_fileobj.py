"""The standard library's file-object protocols over FAASIN ends."""

import csv
import io
import json
import pickle
import shutil
import threading

import faasin


def feed(w: faasin.Writer, data: bytes) -> threading.Thread:
    def run() -> None:
        with w:
            w.write(data)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_isinstance_and_flags() -> None:
    r, w = faasin.pipe()
    assert isinstance(r, io.BufferedIOBase) and isinstance(r, io.IOBase)
    assert isinstance(w, io.BufferedIOBase)
    assert r.readable() and not r.writable() and not r.seekable()
    assert w.writable() and not w.readable()
    assert isinstance(r.fileno(), int) and r.fileno() != w.fileno()


def test_iteration_and_readline() -> None:
    r, w = faasin.pipe(4096)
    lines = [f"line {i} ".encode() * (i % 700 + 1) + b"\n" for i in range(2000)]
    t = feed(w, b"".join(lines) + b"no newline")
    got = list(r)
    t.join()
    assert got == lines + [b"no newline"]


def test_readline_limit_and_readlines() -> None:
    r, w = faasin.pipe()
    w.write(b"abcdef\nxy\n")
    w.close()
    assert r.readline(3) == b"abc"
    assert r.readline() == b"def\n"
    assert r.readlines() == [b"xy\n"]


def test_text_wrapper_utf8() -> None:
    r, w = faasin.pipe(4096)
    text = "".join(f"héllo wörld ✓ {i}\n" for i in range(3000))
    tw = io.TextIOWrapper(w, encoding="utf-8")

    def run() -> None:
        with tw:
            tw.write(text)

    t = threading.Thread(target=run)
    t.start()
    tr = io.TextIOWrapper(r, encoding="utf-8")
    assert tr.read() == text
    t.join()


def test_json_load_and_dump() -> None:
    r, w = faasin.pipe(4096)
    obj = {"items": [{"n": i, "s": "x" * (i % 50)} for i in range(2000)]}
    t = feed(w, json.dumps(obj).encode())
    assert json.load(r) == obj
    t.join()


def test_csv_round_trip() -> None:
    r, w = faasin.pipe(4096)
    rows = [[str(i), f"name {i}", "a,b"] for i in range(3000)]
    tw = io.TextIOWrapper(w, encoding="utf-8", newline="")

    def run() -> None:
        with tw:
            csv.writer(tw).writerows(rows)

    t = threading.Thread(target=run)
    t.start()
    assert list(csv.reader(io.TextIOWrapper(r, encoding="utf-8", newline=""))) == rows
    t.join()


def test_pickle_larger_than_ring() -> None:
    r, w = faasin.pipe(4096)
    objs = [{"k": list(range(10000)), "b": bytes(100000)}, "second", 3.5]

    def run() -> None:
        with w:
            for o in objs:
                pickle.dump(o, w)

    t = threading.Thread(target=run)
    t.start()
    assert [pickle.load(r) for _ in objs] == objs
    t.join()


def test_copyfileobj_both_ways() -> None:
    src = io.BytesIO(bytes(range(256)) * 20000)
    r, w = faasin.pipe(1 << 16)

    def run() -> None:
        with w:
            shutil.copyfileobj(src, w)

    t = threading.Thread(target=run)
    t.start()
    dst = io.BytesIO()
    shutil.copyfileobj(r, dst)
    t.join()
    assert dst.getvalue() == bytes(range(256)) * 20000


def test_buffered_reader_over_raw_methods() -> None:
    r, w = faasin.pipe()
    w.write(b"peekaboo")
    assert r.peek(4)[:4] == b"peek"
    assert r.read(4) == b"peek"
    assert r.available() == 4
