"""The Python stage of the demo chain: forwards its faasin to its faasout
in 1 MiB reads and returns how many bytes went through.

    python3 relay.py        (as a function of `faasin run`)
"""

import json

import faasin


def main() -> None:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    inp, out = faasin.input, faasin.output
    total = 0
    while n := inp.readinto1(buf):
        out.write(view[:n])
        total += n
    out.close()
    print(json.dumps({"bytes": total}))


if __name__ == "__main__":
    main()
