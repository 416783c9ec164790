"""asyncio over FAASIN ends, through ``loop.add_reader``.

Both ends are driven the same way: the end is switched to non-blocking mode,
the operation is tried, and only when it would block does the coroutine wait
for the end's ``fileno()`` to turn READABLE (for the write end too: the
doorbell that announces free space arrives as readability). A wake-up may be
stale; the retry then simply waits again.

    r, w = faasin.pipe()
    await faasin.aio.write(w, b"data")
    chunk = await faasin.aio.read(r)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Callable, Optional, TypeVar, Union

from . import Reader, Writer

__all__ = ["read", "readinto", "read_all", "write", "chunks", "wait_ready"]

T = TypeVar("T")


def _nonblocking(end: Union[Reader, Writer]) -> None:
    if end.blocking:
        end.set_blocking(False)


async def wait_ready(end: Union[Reader, Writer]) -> None:
    """Waits until ``end``'s fd polls readable. Call it only after an
    operation on ``end`` would have blocked: that is what arms readiness."""
    loop = asyncio.get_running_loop()
    fd = end.fileno()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def _until_ready(r: Reader, attempt: Callable[[], Optional[T]]) -> T:
    """Tries ``attempt`` on the non-blocking end until it gives an answer
    (None means it would block), waiting for readiness in between."""
    _nonblocking(r)
    while True:
        got = attempt()
        if got is not None:
            return got
        await wait_ready(r)


async def read(r: Reader, size: int = -1) -> bytes:
    """The bytes one read gives (at most ``size``); b"" at EOF."""
    return await _until_ready(r, lambda: r.read1(size))


async def readinto(r: Reader, buf: Any) -> int:
    """Reads what one read gives into ``buf``; 0 at EOF."""
    return await _until_ready(r, lambda: r.readinto1(buf))


async def read_all(r: Reader) -> bytes:
    """Everything up to EOF."""
    parts: list[bytes] = []
    while True:
        data = await read(r)
        if not data:
            return b"".join(parts)
        parts.append(data)


async def chunks(r: Reader, size: int = -1) -> AsyncIterator[bytes]:
    """``async for chunk in chunks(r):`` until EOF."""
    while True:
        data = await read(r, size)
        if not data:
            return
        yield data


async def write(w: Writer, data: Any) -> None:
    """Writes all of ``data`` (any buffer), waiting for space as needed."""
    _nonblocking(w)
    view = memoryview(data).cast("B")
    while view:
        try:
            w.write(view)
            return
        except BlockingIOError as e:
            view = view[e.characters_written :]
        await wait_ready(w)
