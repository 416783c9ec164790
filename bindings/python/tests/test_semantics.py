"""Pipe semantics seen from Python: EOF, BrokenPipe, errors, blocking modes,
signals, the GIL, peers killed with SIGKILL."""

import errno
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import faasin


def test_eof_after_every_byte() -> None:
    r, w = faasin.pipe()
    w.write(b"abc")
    w.write(bytearray(b"def"))
    w.close()
    assert r.read() == b"abcdef"
    assert r.read() == b""
    assert r.read1(10) == b""
    assert r.readinto(bytearray(4)) == 0
    assert r.readline() == b""


def test_read_sizes() -> None:
    r, w = faasin.pipe(4096)
    w.write(b"0123456789")
    assert r.read(3) == b"012"
    assert r.read1(100) == b"3456789"  # one read: what is there
    got = []
    t = threading.Thread(target=lambda: got.append(r.read(5000)))  # waits for all
    t.start()
    for i in range(5):
        w.write(bytes([i]) * 1000)
        time.sleep(0.01)
    t.join(10)
    assert got == [b"".join(bytes([i]) * 1000 for i in range(5))]


def test_readinto_any_writable_buffer() -> None:
    r, w = faasin.pipe()
    payload = bytes(range(256)) * 64
    w.write(payload)
    ba = bytearray(100)
    assert r.readinto(ba) == 100 and ba == payload[:100]
    mv = memoryview(bytearray(300))[100:200]
    assert r.readinto(mv) == 100 and mv.tobytes() == payload[100:200]
    arr = np.zeros(16, dtype=np.float64)  # 128 bytes, not a byte format
    assert r.readinto(arr) == 128
    assert arr.tobytes() == payload[200:328]
    assert r.readinto1(bytearray(1 << 20)) == len(payload) - 328
    with pytest.raises(TypeError):
        r.readinto(b"immutable")


def test_write_any_buffer_without_copy_first() -> None:
    r, w = faasin.pipe()
    arr = np.arange(1000, dtype=np.int32)
    assert w.write(arr) == 4000
    assert w.write(memoryview(b"xyz")) == 3
    assert w.write(bytearray(b"q")) == 1
    w.writelines([b"a", b"b"])
    w.close()
    data = r.read()
    assert np.frombuffer(data[:4000], dtype=np.int32).tolist() == list(range(1000))
    assert data[4000:] == b"xyzqab"
    with pytest.raises(TypeError):
        w.write("text")


def test_broken_pipe_after_reader_left() -> None:
    r, w = faasin.pipe()
    w.write(b"x")
    r.close()
    with pytest.raises(BrokenPipeError) as e:
        w.write(b"y")
    assert e.value.errno == errno.EPIPE
    with pytest.raises(BrokenPipeError):
        w.flush()


def test_blocked_writer_woken_by_reader_close() -> None:
    r, w = faasin.pipe(4096)
    errs = []

    def writer() -> None:
        try:
            w.write(b"z" * 100_000)
        except BrokenPipeError as e:
            errs.append(e)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # blocked for space, GIL released
    r.close()
    t.join(10)
    assert not t.is_alive() and len(errs) == 1


def test_closed_ends_and_double_close() -> None:
    r, w = faasin.pipe()
    r.close()
    r.close()
    w.close()
    w.close()
    assert r.closed and w.closed
    for call in (r.read, r.fileno, lambda: r.readinto(bytearray(1)), r.readable):
        with pytest.raises(ValueError):
            call()
    for call in (lambda: w.write(b"x"), w.flush, w.fileno):
        with pytest.raises(ValueError):
            call()


def test_context_managers_close() -> None:
    r, w = faasin.pipe()
    with w:
        w.write(b"bye")
    assert w.closed
    with r:
        assert r.read() == b"bye"
    assert r.closed


def test_bad_fds_and_capacities() -> None:
    with pytest.raises(ValueError):
        faasin.Reader.from_fd(-1)
    fd = os.open("/dev/null", os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError) as e:
        faasin.open_reader(fd)
    assert e.value.errno == errno.EBADF
    with pytest.raises(ValueError, match="power of two"):
        faasin.pipe(1000)
    with pytest.raises(ValueError):
        faasin.pipe_fds(3 << 20)


def test_wrong_role_leaves_fd_usable() -> None:
    rfd, wfd = faasin.pipe_fds()
    with pytest.raises(ValueError, match="write end"):
        faasin.Reader.from_fd(wfd)
    with pytest.raises(ValueError, match="read end"):
        faasin.Writer.from_fd(rfd)
    r, w = faasin.Reader.from_fd(rfd), faasin.Writer.from_fd(wfd)
    w.write(b"ok")
    w.close()
    assert r.read() == b"ok"


def test_malformed_endpoint_is_invalid_stream_error() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with pytest.raises(faasin.InvalidStreamError) as e:  # no hello waiting
        faasin.Reader.from_fd(a.detach())
    assert e.value.errno == errno.EBADMSG
    assert isinstance(e.value, OSError)
    c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    d.send(b"garbage that is no hello")
    with pytest.raises(faasin.InvalidStreamError):
        faasin.Reader.from_fd(c.detach())
    b.close()
    d.close()


def test_plain_fd_fallback() -> None:
    pr, pw = os.pipe()
    r, w = faasin.Reader.from_fd(pr), faasin.Writer.from_fd(pw)
    assert not r.is_ring and not w.is_ring and r.capacity is None
    w.write(b"line1\nline2\n")
    w.close()
    assert list(r) == [b"line1\n", b"line2\n"]


def test_pipe_fds_are_not_inheritable() -> None:
    rfd, wfd = faasin.pipe_fds()
    try:
        assert not os.get_inheritable(rfd) and not os.get_inheritable(wfd)
        assert faasin.is_endpoint(rfd) and faasin.is_endpoint(wfd)
    finally:
        os.close(rfd)
        os.close(wfd)


def test_read_n_is_short_only_at_eof_or_when_a_nonblocking_ring_runs_dry() -> None:
    r, w = faasin.pipe(4096)
    w.write(b"hello")
    w.close()
    assert r.read(100) == b"hello"
    assert r.read(100) == b""
    r, w = faasin.pipe(4096)
    w.write(b"xyz")
    w.close()
    assert r.read(100 << 20) == b"xyz"  # a huge n allocates nothing huge
    r, w = faasin.pipe(4096)
    r.set_blocking(False)
    w.write(b"abc")
    assert r.read(1000) == b"abc"
    assert r.read(1000) is None
    w.write(b"d" * 4096)
    assert r.read(1000) == b"d" * 1000


def test_nonblocking_read_and_write() -> None:
    r, w = faasin.pipe(4096)
    r.set_blocking(False)
    w.set_blocking(False)
    assert not r.blocking and not w.blocking
    assert r.read(10) is None
    assert r.read1() is None
    assert r.readinto(bytearray(10)) is None
    with pytest.raises(BlockingIOError) as e:
        w.write(b"a" * 5000)
    assert e.value.characters_written == 4096
    with pytest.raises(BlockingIOError) as e:
        w.write(b"b")
    assert e.value.characters_written == 0
    assert r.read(10) == b"a" * 10  # returns what is there without waiting
    assert len(r.read()) == 4086
    assert r.read() is None
    w.close()
    assert r.read() == b""


def test_selectors_wait_for_readiness() -> None:
    r, w = faasin.pipe(4096)
    r.set_blocking(False)
    w.set_blocking(False)
    sel = selectors.DefaultSelector()
    assert r.read1() is None  # arms readiness
    sel.register(r.fileno(), selectors.EVENT_READ)
    threading.Timer(0.1, lambda: faasin.Writer.write(w, b"ping")).start()
    assert sel.select(timeout=10), "reader fd never turned readable"
    data = None
    for _ in range(100):  # a wake-up may be stale: retry, re-poll
        data = r.read1()
        if data is not None:
            break
        sel.select(timeout=1)
    assert data == b"ping"
    sel.unregister(r.fileno())
    # The writer's fd polls READABLE once space frees.
    w.write(b"x" * 4096)
    with pytest.raises(BlockingIOError):
        w.write(b"more")  # arms readiness
    sel.register(w.fileno(), selectors.EVENT_READ)
    threading.Timer(0.1, lambda: r.read(100)).start()
    assert sel.select(timeout=10), "writer fd never turned readable"
    sel.close()


def test_timeout() -> None:
    r, w = faasin.pipe()
    r.set_timeout(0.2)
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        r.read(1)
    assert time.monotonic() - t >= 0.15
    with pytest.raises(ValueError):
        r.set_timeout(-1)


def test_timeout_on_a_plain_pipe() -> None:
    """set_timeout on the fd fallback: core times the wait out as on a ring."""
    def hung(signum: int, frame: object) -> None:
        raise AssertionError("a read on a plain pipe ignored its timeout")

    rfd, wfd = os.pipe()
    r = faasin.open_reader(rfd)
    assert not r.is_ring
    r.set_timeout(0.2)
    old = signal.signal(signal.SIGALRM, hung)
    try:
        for call in (lambda: r.read(1), lambda: r.read1(1), lambda: r.readline()):
            t = time.monotonic()
            signal.alarm(10)  # a hang fails the test instead of stalling it
            with pytest.raises(TimeoutError):
                call()
            signal.alarm(0)
            assert 0.15 <= time.monotonic() - t < 5
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    # The reader goes on once data comes.
    os.write(wfd, b"x\n")
    assert r.readline() == b"x\n"
    os.close(wfd)
    assert r.read() == b""
    r.close()


def test_gil_released_while_read_blocks() -> None:
    r, w = faasin.pipe()
    got = []
    t = threading.Thread(target=lambda: got.append(r.read(4)))
    t.start()
    count = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        count += 1
    assert t.is_alive() and not got
    assert count > 10_000, "the main thread barely ran while the read blocked"
    w.write(b"done")
    t.join(10)
    assert got == [b"done"]


def test_close_from_another_thread_wakes_reader() -> None:
    r, w = faasin.pipe()
    got = []
    t = threading.Thread(target=lambda: got.append(r.read()))
    t.start()
    time.sleep(0.1)
    w.write(b"tail")
    w.close()
    t.join(10)
    assert got == [b"tail"]


def spawn_py(code: str, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def test_ctrl_c_interrupts_blocked_read() -> None:
    p = spawn_py("""
        import sys, faasin
        r, w = faasin.pipe()
        print("ready", flush=True)
        try:
            r.read(1)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("read returned", flush=True)
    """)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"
    time.sleep(0.3)  # let it block
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 3 and out == b"interrupted\n"


def test_signal_handler_that_returns_resumes_read() -> None:
    rfd, wfd = faasin.pipe_fds()
    p = spawn_py("""
        import signal, faasin
        signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
        r = faasin.input
        print("ready", flush=True)
        print(r.read(5).decode(), flush=True)
    """, pass_fds=[rfd], env={**os.environ, "FAASIN_FD": str(rfd)})
    os.close(rfd)
    w = faasin.Writer.from_fd(wfd)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    p.send_signal(signal.SIGUSR1)
    assert p.stdout.readline() == b"usr1\n"
    w.write(b"hello")
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and out == b"hello\n"


def test_writer_killed_reader_gets_committed_bytes_then_eof() -> None:
    rfd, wfd = faasin.pipe_fds(1 << 20)
    p = spawn_py("""
        import time, faasin
        w = faasin.output
        w.write(bytes(range(256)) * 3000)
        print("written", flush=True)
        time.sleep(600)
    """, pass_fds=[wfd], env={**os.environ, "FAASOUT_FD": str(wfd)})
    os.close(wfd)
    r = faasin.Reader.from_fd(rfd)
    r.set_timeout(30)  # a hang fails the test instead of stalling it
    assert p.stdout is not None
    assert p.stdout.readline() == b"written\n"
    p.kill()
    p.wait()
    data = r.read()
    assert data == bytes(range(256)) * 3000
    assert r.read() == b""


def test_reader_killed_writer_gets_broken_pipe() -> None:
    rfd, wfd = faasin.pipe_fds(1 << 16)
    p = spawn_py("""
        import time, faasin
        r = faasin.input
        r.read(1)
        print("reading", flush=True)
        time.sleep(600)
    """, pass_fds=[rfd], env={**os.environ, "FAASIN_FD": str(rfd)})
    os.close(rfd)
    w = faasin.Writer.from_fd(wfd)
    w.set_timeout(30)
    w.write(b"!")
    assert p.stdout is not None
    assert p.stdout.readline() == b"reading\n"
    errs = []

    def fill() -> None:
        try:
            while True:
                w.write(b"x" * 65536)  # soon blocks: nobody reads
        except BrokenPipeError as e:
            errs.append(e)

    t = threading.Thread(target=fill)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    p.kill()
    p.wait()
    t.join(30)
    assert not t.is_alive() and len(errs) == 1
    with pytest.raises(BrokenPipeError):
        w.write(b"again")


def test_corrupted_ring_is_invalid_stream_error() -> None:
    import mmap
    import struct

    rfd, wfd = faasin.pipe_fds(4096)
    r = faasin.Reader.from_fd(rfd)
    # Play a hostile writer: take the ring's memfd off the write endpoint and
    # move write_pos (offset 128 of the header) far past read_pos + capacity.
    sock = socket.socket(fileno=wfd)
    _, anc, _, _ = sock.recvmsg(64, socket.CMSG_SPACE(4))
    memfd = struct.unpack("i", anc[0][2][:4])[0]
    with mmap.mmap(memfd, 4096) as header:
        header[128:136] = struct.pack("<Q", 1 << 40)
    os.close(memfd)
    with pytest.raises(faasin.InvalidStreamError) as e:
        r.read(1)
    assert e.value.errno == errno.EBADMSG
    assert isinstance(e.value, OSError)
    sock.close()
    r.close()


def test_missing_stream_and_stream_is_taken_once() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS")}
    p = subprocess.run([sys.executable, "-c", "import faasin; faasin.input"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1
    assert "OSError" in p.stderr and "FAASIN_FD" in p.stderr
    rfd, wfd = faasin.pipe_fds()
    p = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import faasin
        a = faasin.input
        assert faasin.input is a and a.is_ring
        print("same")
    """)], capture_output=True, text=True, pass_fds=[rfd],
        env={**env, "FAASIN_FD": str(rfd)}, timeout=60)
    os.close(rfd)
    os.close(wfd)
    assert p.returncode == 0 and p.stdout == "same\n", p.stderr
