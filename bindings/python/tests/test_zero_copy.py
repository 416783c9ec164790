"""borrow()/reserve(): memoryviews straight over the ring, and their guards."""

import gc

import numpy as np
import pytest

import faasin


def test_borrow_consumes_whole_view_at_exit() -> None:
    r, w = faasin.pipe()
    w.write(b"hello world")
    with r.borrow() as view:
        assert isinstance(view, memoryview) and view.readonly
        assert bytes(view) == b"hello world"
        with pytest.raises(TypeError):
            view[0] = 0
    assert view.__class__ is memoryview
    with pytest.raises(ValueError):
        view.tobytes()  # released at exit
    w.write(b"!")
    assert r.read1() == b"!"


def test_borrow_explicit_consume_and_size() -> None:
    r, w = faasin.pipe()
    w.write(b"abcdef")
    with r.borrow(4) as view:
        assert bytes(view) == b"abcd"
        r.consume(1)
    with r.borrow() as view:
        assert bytes(view) == b"bcdef"
        r.consume(0)
        with pytest.raises(ValueError):
            r.consume(6)
    assert r.read(5) == b"bcdef"
    with pytest.raises(ValueError):
        r.consume(1)  # outside a borrow


def test_borrow_consumes_nothing_if_block_raises() -> None:
    r, w = faasin.pipe()
    w.write(b"keep")
    with pytest.raises(RuntimeError):
        with r.borrow() as view:
            assert bytes(view) == b"keep"
            raise RuntimeError
    assert r.read(4) == b"keep"


def test_borrow_at_eof_is_empty() -> None:
    r, w = faasin.pipe()
    w.close()
    with r.borrow() as view:
        assert len(view) == 0


def test_borrowed_view_is_the_ring_no_copy() -> None:
    r, w = faasin.pipe(4096)
    w.write(b"A" * 10)
    with r.borrow() as v1:
        addr1 = np.frombuffer(v1, dtype=np.uint8).ctypes.data
    # The next borrow points 10 bytes further into the same mapping.
    w.write(b"B" * 10)
    with r.borrow() as v2:
        arr = np.frombuffer(v2, dtype=np.uint8)
        addr2 = arr.ctypes.data
        del arr
    assert addr2 - addr1 == 10


def test_kept_slice_is_refused_then_recovered() -> None:
    r, w = faasin.pipe()
    w.write(b"0123456789")
    with pytest.raises(BufferError, match="outlive"):
        with r.borrow() as view:
            kept = view[2:5]
    with pytest.raises(BufferError, match="still"):
        r.read(1)
    with pytest.raises(BufferError):
        r.close()
    assert bytes(kept) == b"234"  # still valid memory, not dangling
    del kept
    gc.collect()
    # The with-block's decision (consume all 10) is carried out now.
    w.write(b"next")
    assert r.read1() == b"next"
    r.close()


def test_numpy_array_over_borrow_is_guarded() -> None:
    r, w = faasin.pipe()
    w.write(np.arange(4, dtype=np.int64))
    with pytest.raises(BufferError):
        with r.borrow() as view:
            arr = np.frombuffer(view, dtype=np.int64)
    assert arr.tolist() == [0, 1, 2, 3]
    with pytest.raises(BufferError):
        r.read(1)
    del arr
    w.close()
    assert r.read() == b""


def test_view_outlives_closed_reader_without_dangling() -> None:
    r, w = faasin.pipe()
    w.write(b"persist")
    with pytest.raises(BufferError):
        with r.borrow() as view:
            kept = view[:]
    del r
    gc.collect()  # the Reader is finalized; the mapping stays for `kept`
    assert bytes(kept) == b"persist"
    with pytest.raises(BrokenPipeError):
        w.write(b"x")


def test_nested_borrow_and_read_inside_borrow_refused() -> None:
    r, w = faasin.pipe()
    w.write(b"data")
    with r.borrow() as view:
        with pytest.raises(BufferError):
            with r.borrow():
                pass
        with pytest.raises(BufferError):
            r.read(1)
        assert bytes(view) == b"data"


def test_reserve_commits_at_exit() -> None:
    r, w = faasin.pipe()
    with w.reserve(5) as view:
        assert len(view) == 5 and not view.readonly
        view[:] = b"hello"
    assert r.read(5) == b"hello"


def test_reserve_commit_fewer_and_greedy() -> None:
    r, w = faasin.pipe(4096)
    with w.reserve(100, greedy=True) as view:
        assert len(view) == 4096
        view[:3] = b"abc"
        w.commit(3)
        with pytest.raises(ValueError):
            w.commit(5000)
    assert r.read1() == b"abc"


def test_reserve_commits_nothing_if_block_raises() -> None:
    r, w = faasin.pipe()
    with pytest.raises(KeyError):
        with w.reserve(3) as view:
            view[:] = b"bad"
            raise KeyError
    w.write(b"good")
    w.close()
    assert r.read() == b"good"


def test_reserve_guards() -> None:
    r, w = faasin.pipe(4096)
    with pytest.raises(ValueError, match="capacity"):
        with w.reserve(8192):
            pass
    with w.reserve(2) as view:
        view[:] = b"ab"
        with pytest.raises(BufferError):
            w.write(b"x")
        with pytest.raises(BufferError):
            w.close()
    with pytest.raises(BufferError, match="outlive"):
        with w.reserve(2) as view:
            view[:] = b"cd"
            kept = view[:1]
    with pytest.raises(BufferError):
        w.write(b"x")
    kept[0] = ord("C")  # still mapped; not yet committed
    del kept
    w.write(b"e")  # commits "Cd" first, then writes
    w.close()
    assert r.read() == b"abCde"


def test_reserve_into_numpy() -> None:
    r, w = faasin.pipe()
    with w.reserve(80) as view:
        arr = np.frombuffer(view, dtype=np.float64)
        arr[:] = np.linspace(0, 1, 10)
        del arr
    got = np.frombuffer(r.read(80), dtype=np.float64)
    assert np.allclose(got, np.linspace(0, 1, 10))


def test_nonblocking_borrow_and_reserve() -> None:
    r, w = faasin.pipe(4096)
    r.set_blocking(False)
    w.set_blocking(False)
    with pytest.raises(BlockingIOError):
        with r.borrow():
            pass
    w.write(b"x" * 4096)
    with pytest.raises(BlockingIOError):
        with w.reserve(1):
            pass
