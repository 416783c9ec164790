"""FAASIN: UNIX pipes for chained serverless functions.

A function reads its input stream and writes its output stream much like
``sys.stdin.buffer`` and ``sys.stdout.buffer``::

    import faasin
    data = faasin.input.read()
    faasin.output.write(data.upper())

``faasin.input`` / ``faasin.output`` are created on first use (env
``FAASIN_FD`` / ``FAASOUT_FD``, else fd 3 / 4 when they are FAASIN endpoints,
else the ``FAASIN_SOCKET`` handoff). ``faasin.pipe()`` makes a new stream in
this process; ``faasin.pipe_fds()`` makes one as two raw fds for children.

A warm function (started once by ``faasin run --warm N``, serving many
invocations) loops instead::

    for inv in faasin.invocations():
        inv.output.write(inv.input.read().upper())
        inv.finish(b'{"ok": true}')

``inv.params`` is the invocation's parameters (a str, JSON by convention,
or None); a one-shot function reads its own with ``faasin.params()``.

Errors: ``BrokenPipeError`` when writing after the reader left;
``BlockingIOError`` in non-blocking mode (writes; reads return ``None``);
``ValueError`` for bad arguments (a wrong capacity, opening the write end as
a reader) and for I/O on a closed end; ``BufferError`` when a borrowed or
reserved view is still in use; ``TimeoutError`` after ``set_timeout``;
:class:`InvalidStreamError` (an ``OSError`` with errno ``EBADMSG``) for a
malformed endpoint or a ring the peer corrupted; other ``OSError`` with the
errno of the failing system call (``EBADF`` for an fd that is not open).
"""

from __future__ import annotations

import errno
import io
import sys
import threading
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Self, Union

from . import _faasin
from ._faasin import (
    DEFAULT_CAPACITY,
    MAX_CAPACITY,
    MIN_CAPACITY,
    InvalidStreamError,
    is_endpoint,
)

__all__ = [
    "DEFAULT_CAPACITY",
    "MAX_CAPACITY",
    "MIN_CAPACITY",
    "InvalidStreamError",
    "Invocation",
    "Reader",
    "Writer",
    "input",
    "invocations",
    "output",
    "params",
    "is_endpoint",
    "open_reader",
    "open_writer",
    "pipe",
    "pipe_fds",
    "streams_of",
]


class _ViewBlock:
    """A with-block over ring bytes lent as a memoryview. When the block
    ends, so does the view, and its first bytes are consumed (a borrow) or
    committed (a reservation): all of them, or what ``consume``/``commit``
    said; none if the block raised and ``consume``/``commit`` was not
    called."""

    _noun = "view"

    def __init__(
        self,
        end: _End,
        # Lends a _faasin.View (typed Any: the stub cannot declare it a
        # buffer for Python 3.11), or None if it would block.
        lend: Callable[[], Any],
        finish: Callable[[int], None],
        would_block: str,
    ) -> None:
        self._end = end
        self._lend = lend
        self._finish = finish
        self._would_block = would_block
        self._view: Any = None
        self._mv: Optional[memoryview] = None
        self.amount: Optional[int] = None

    def __enter__(self) -> memoryview:
        if self._end._block is not None:
            raise BufferError(f"this {self._end._what} already has an open {self._end._lends}()")
        view = self._lend()
        if view is None:
            raise BlockingIOError(errno.EAGAIN, self._would_block)
        self._view = view
        self._mv = memoryview(view)
        self._end._block = self
        return self._mv

    def __exit__(
        self,
        et: Optional[type[BaseException]],
        ev: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._end._block = None
        assert self._view is not None and self._mv is not None
        if self.amount is not None:
            n = self.amount
        else:
            n = len(self._view) if et is None else 0
        try:
            self._mv.release()
        except BufferError:
            pass  # something still holds the memoryview: finishing says so
        self._mv = None
        self._finish(n)


class Borrow(_ViewBlock):
    """Context manager of :meth:`Reader.borrow`: a read-only memoryview over
    the ring, consumed when the block ends (all of it, or what
    :meth:`Reader.consume` said; nothing if the block raised and consume was
    not called)."""

    _noun = "borrow"

    def __init__(self, reader: Reader, size: int) -> None:
        raw = reader._raw
        super().__init__(
            reader,
            lambda: raw.borrow(size if size >= 0 else None),
            raw.end_borrow,
            "no data to borrow yet (non-blocking mode)",
        )


class Reservation(_ViewBlock):
    """Context manager of :meth:`Writer.reserve`: a writable memoryview over
    the ring, committed when the block ends (all of it, or what
    :meth:`Writer.commit` said; nothing if the block raised and commit was
    not called)."""

    _noun = "reservation"

    def __init__(self, writer: Writer, n: int, greedy: bool) -> None:
        raw = writer._raw
        super().__init__(
            writer,
            lambda: raw.reserve(n, greedy),
            raw.end_reserve,
            "not enough free space yet (non-blocking mode)",
        )


class _End(io.BufferedIOBase):
    _raw: Any
    # Set by each kind of end: its native class, its name, whether it reads,
    # the call that lends ring bytes, and the function's own stream of it.
    _raw_type: type[Any]
    _what: str
    _reads: bool
    _lends: str
    _own: str
    _block: Optional[_ViewBlock] = None

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, self._raw_type):
            raise TypeError(f"use faasin.pipe(), faasin.open_{self._what}(fd) or faasin.{self._own}")
        self._raw = raw

    @classmethod
    def from_fd(cls, fd: int) -> Self:
        """Opens this kind of end from an fd this takes over (a FAASIN
        endpoint, or any fd of the right direction, used with plain
        read(2) / write(2))."""
        return cls(cls._raw_type.from_fd(fd))

    def readable(self) -> bool:
        self._check_open()
        return self._reads

    def writable(self) -> bool:
        self._check_open()
        return not self._reads

    @property
    def closed(self) -> bool:
        raw = getattr(self, "_raw", None)
        return raw is None or raw.closed

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed FAASIN {self._what}")

    def fileno(self) -> int:
        """The fd to poll for readiness (READABLE, for both ends)."""
        return int(self._raw.fileno())

    def isatty(self) -> bool:
        self._check_open()
        return False

    def seekable(self) -> bool:
        return False

    def detach(self) -> io.RawIOBase:
        raise io.UnsupportedOperation("a FAASIN end has no separate raw stream")

    @property
    def is_ring(self) -> bool:
        """True for a FAASIN ring, False for the plain-fd fallback."""
        return bool(self._raw.is_ring)

    @property
    def capacity(self) -> Optional[int]:
        """The ring's capacity in bytes (None for the plain-fd fallback)."""
        cap: Optional[int] = self._raw.capacity
        return cap

    @property
    def blocking(self) -> bool:
        return bool(self._raw.get_blocking())

    def set_blocking(self, blocking: bool) -> None:
        """Like os.set_blocking: False makes waits fail fast (reads return
        None, writes raise BlockingIOError); readiness is then armed and the
        fileno() polls readable when it is worth trying again."""
        self._raw.set_blocking(bool(blocking))

    def set_timeout(self, seconds: Optional[float]) -> None:
        """Blocking waits longer than this raise TimeoutError (None: forever)."""
        self._raw.set_timeout(None if seconds is None else float(seconds))

    def set_spin(self, seconds: float) -> None:
        """How long a waiting call spins before sleeping in the kernel."""
        self._raw.set_spin(float(seconds))

    def _finish_only(self, n: int, call: str) -> None:
        """Inside the with-block of a view: finish only ``n`` bytes at exit."""
        b = self._block
        if b is None or b._view is None:
            raise ValueError(f"{call}() is only valid inside `with {self._what}.{self._lends}()`")
        if not 0 <= n <= len(b._view):
            raise ValueError(f"cannot {call} {n} bytes of a {b._noun} of {len(b._view)}")
        b.amount = n

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            try:
                raw.close(True)
            except Exception:
                pass

    def __repr__(self) -> str:
        if self.closed:
            return f"<faasin.{type(self).__name__} closed>"
        kind = f"ring capacity={self.capacity}" if self.is_ring else "plain fd"
        return f"<faasin.{type(self).__name__} fd={self._raw.fileno()} {kind}>"


class Reader(_End):
    """The read end of a stream: a binary file object (io.BufferedIOBase).

    ``read(n)``/``readinto(b)`` fill up to ``n``/``len(b)`` bytes unless EOF
    comes first; ``read1``/``readinto1`` return what one wait brings. In
    non-blocking mode they return what is there, or None if nothing is.
    ``borrow()`` lends the readable bytes without copying them.
    """

    _raw_type = _faasin.RawReader
    _what = "reader"
    _reads = True
    _lends = "borrow"
    _own = "input"

    def read(self, size: Optional[int] = -1) -> Optional[bytes]:  # type: ignore[override]
        return self._raw.read(None if size is None or size < 0 else size)  # type: ignore[no-any-return]

    def read1(self, size: int = -1) -> Optional[bytes]:  # type: ignore[override]
        return self._raw.read(None if size is None or size < 0 else size, True)  # type: ignore[no-any-return]

    def readall(self) -> bytes:
        data: Optional[bytes] = self._raw.read(None)
        return b"" if data is None else data

    def readinto(self, b: Any) -> Optional[int]:  # type: ignore[override]
        return self._raw.readinto(b)  # type: ignore[no-any-return]

    def readinto1(self, b: Any) -> Optional[int]:  # type: ignore[override]
        return self._raw.readinto(b, True)  # type: ignore[no-any-return]

    def readline(self, size: Optional[int] = -1) -> bytes:
        return self._raw.readline(None if size is None or size < 0 else size)  # type: ignore[no-any-return]

    def peek(self, size: int = 0) -> bytes:
        data: Optional[bytes] = self._raw.peek(size)
        return b"" if data is None else data

    def available(self) -> int:
        """Bytes readable now without waiting."""
        return int(self._raw.available())

    def borrow(self, size: int = -1) -> Borrow:
        """``with r.borrow() as view:``: a read-only memoryview over the
        readable bytes in the ring (at most ``size``), waiting for at least
        one byte; empty at EOF. Consumed at exit."""
        return Borrow(self, size)

    def consume(self, n: int) -> None:
        """Inside ``with r.borrow()``: consume only ``n`` bytes at exit."""
        self._finish_only(n, "consume")

    def close(self) -> None:
        """Closes the end; the writer then gets BrokenPipeError. Raises
        BufferError while a borrowed memoryview is still alive."""
        if not self.closed:
            self._raw.close()


class Writer(_End):
    """The write end of a stream: a binary file object (io.BufferedIOBase).

    ``write(b)`` takes any buffer-protocol object and copies it straight
    into the ring; each write is visible to the reader when it returns.
    ``reserve(n)`` lends ring space to fill in place.
    """

    _raw_type = _faasin.RawWriter
    _what = "writer"
    _reads = False
    _lends = "reserve"
    _own = "output"

    def write(self, b: Any) -> int:
        return int(self._raw.write(b))

    def flush(self) -> None:
        """Every write is already visible to the reader; this raises
        BrokenPipeError if the reader has left."""
        self._check_open()
        self._raw.flush()

    def reserve(self, n: int, greedy: bool = False) -> Reservation:
        """``with w.reserve(n) as view:``: a writable memoryview of ``n``
        bytes in the ring (all free space, at least ``n``, with ``greedy``),
        waiting for space. Committed at exit."""
        return Reservation(self, n, greedy)

    def commit(self, n: int) -> None:
        """Inside ``with w.reserve()``: commit only ``n`` bytes at exit."""
        self._finish_only(n, "commit")

    def close(self) -> None:
        """Closes the end; the reader gets EOF after every written byte.
        Raises BufferError while a reserved memoryview is still alive."""
        if not self.closed:
            self._raw.close()


def pipe(capacity: int = DEFAULT_CAPACITY) -> tuple[Reader, Writer]:
    """A new stream within this process: ``(reader, writer)``."""
    r, w = _faasin.pipe(capacity)
    return Reader(r), Writer(w)


def pipe_fds(capacity: int = DEFAULT_CAPACITY) -> tuple[int, int]:
    """A new stream as two raw endpoint fds ``(read_fd, write_fd)`` owned by
    the caller, non-inheritable like os.pipe(): pass them to a child with
    ``subprocess.Popen(..., pass_fds=[fd])`` and close your copies."""
    return _faasin.pipe_fds(capacity)


def streams_of(request_id: str) -> tuple[Reader, Writer]:
    """The faasin and faasout of one invocation of a Lambda handler under
    ``faasin serve``, by the request id its context carries::

        fin, fout = faasin.streams_of(context.aws_request_id)

    Good once per invocation; close ``fout`` before returning, so the next
    function sees end of file."""
    r, w = _faasin.streams_of(request_id)
    return Reader(r), Writer(w)


def open_reader(fd: int) -> Reader:
    """``Reader.from_fd(fd)``."""
    return Reader.from_fd(fd)


def open_writer(fd: int) -> Writer:
    """``Writer.from_fd(fd)``."""
    return Writer.from_fd(fd)


class Invocation:
    """One invocation of a warm function: ``input`` and ``output`` are its
    streams, ``params`` its parameters (a str, JSON by convention; None if
    the runner gave none); :meth:`finish` ends it with a return value."""

    def __init__(
        self, r: _faasin.RawReader, w: _faasin.RawWriter, done: _faasin.RawCompletion
    ) -> None:
        self.input = Reader(r)
        self.output = Writer(w)
        self.params: Optional[str] = done.params
        self._done = done

    def finish(self, value: Union[bytes, str] = b"") -> None:
        """Closes both streams (the next function sees EOF), then hands
        ``value`` (a str is UTF-8 encoded) to the runner as the return
        value; when not started warm, prints it on stdout. An invocation
        left without ``finish`` is reported to a warm runner as broken off."""
        data = value.encode() if isinstance(value, str) else bytes(value)
        self.input.close()
        self.output.close()
        sys.stdout.flush()
        self._done.finish(data)


def invocations() -> Iterator[Invocation]:
    """The invocations this process serves: one after another when started
    by ``faasin run --warm N`` (env ``FAASIN_WARM``), else exactly one, on
    the function's usual streams. Waiting for the next one releases the GIL."""
    for r, w, done in _faasin.invocations():
        yield Invocation(r, w, done)


def params() -> Optional[str]:
    """A one-shot function's invocation parameters, from env
    ``FAASIN_PARAMS`` (None when unset or empty). A warm function gets each
    invocation's own as ``inv.params``."""
    return _faasin.params()


_streams_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    # The function's streams are opened on first use, so importing faasin
    # never fails and a function that uses only one stream needs only one.
    if name not in ("input", "output"):
        raise AttributeError(f"module 'faasin' has no attribute {name!r}")
    with _streams_lock:
        g = globals()
        if name not in g:
            g[name] = Reader(_faasin.input()) if name == "input" else Writer(_faasin.output())
        return g[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"input", "output"})


input: Reader
output: Writer
