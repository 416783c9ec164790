"""Large round trips with a SHA-256 on both sides, between processes."""

import pytest

from conftest import chain, py

BIG = 256 << 20


def check(wline: str, rline: str, total: int) -> None:
    assert wline.split()[0] == str(total)
    assert wline == rline


def test_python_to_python_256mib_readinto() -> None:
    w, r = chain(py("write", str(BIG)), py("read", "readinto", str(1 << 20)))
    check(w, r, BIG)


def test_python_to_python_reserve_borrow() -> None:
    total = 64 << 20
    w, r = chain(py("write", str(total), "reserve", "50000"),
                 py("read", "borrow", str(1 << 20)), capacity=1 << 16)
    check(w, r, total)


def test_python_to_rust_256mib(peer: str) -> None:
    w, r = chain(py("write", str(BIG)), [peer, "read"])
    check(w, r, BIG)


def test_rust_to_python_256mib(peer: str) -> None:
    w, r = chain([peer, "write", str(BIG), "7"], py("read", "readinto", str(1 << 16)))
    check(w, r, BIG)


@pytest.mark.parametrize("total", [0, 1, 4095, 4097])
def test_odd_sizes_small_ring(total: int) -> None:
    w, r = chain(py("write", str(total), "write", "3000"), py("read", "borrow", "1000"),
                 capacity=4096)
    check(w, r, total)
