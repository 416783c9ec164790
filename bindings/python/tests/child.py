"""A Python peer for the cross-process tests (run as a script).

    child.py write BYTES [MODE] [CHUNK]  # to faasin.output; MODE write|reserve
    child.py read [MODE] [CHUNK]         # from faasin.input; MODE readinto|borrow

Prints "BYTES SHA256HEX" of what went through, like the Rust `peer`.
"""

import hashlib
import random
import sys

import faasin


def pool(n: int) -> bytes:
    return random.Random(12345).randbytes(n)


def write(total: int, mode: str, chunk: int) -> str:
    data = pool(4 << 20)
    h = hashlib.sha256()
    w = faasin.output
    left, i = total, 0
    while left:
        n = min(chunk, left)
        off = (i * 7919) % (len(data) - n + 1)
        piece = memoryview(data)[off : off + n]
        if mode == "reserve":
            with w.reserve(n) as view:
                view[:] = piece
        else:
            w.write(piece)
        h.update(piece)
        left -= n
        i += 1
    w.flush()
    w.close()
    return f"{total} {h.hexdigest()}"


def read(mode: str, chunk: int) -> str:
    h = hashlib.sha256()
    r = faasin.input
    total = 0
    if mode == "borrow":
        while True:
            with r.borrow(chunk) as view:
                if not view:
                    break
                h.update(view)
                total += len(view)
    else:
        buf = bytearray(chunk)
        mv = memoryview(buf)
        while True:
            n = r.readinto1(mv)
            if not n:
                break
            h.update(mv[:n])
            total += n
    return f"{total} {h.hexdigest()}"


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "write":
        mode = args[2] if len(args) > 2 else "write"
        chunk = int(args[3]) if len(args) > 3 else 64 * 1024
        print(write(int(args[1]), mode, chunk), flush=True)
    else:
        mode = args[1] if len(args) > 1 else "readinto"
        chunk = int(args[2]) if len(args) > 2 else 64 * 1024
        print(read(mode, chunk), flush=True)


if __name__ == "__main__":
    main()
