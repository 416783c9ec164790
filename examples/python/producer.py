"""A producer function: writes N JSON records, one a line, to its faasout.

Run it in a chain (its output stream comes from FAASOUT_FD, fd 4, or the
FAASIN_SOCKET handoff); its return value, printed on stdout, is JSON.

    python producer.py 1000
"""

import json
import sys

import faasin


def produce(n: int, out: faasin.Writer) -> int:
    for i in range(n):
        out.write(json.dumps({"id": i, "value": i * i % 97}).encode() + b"\n")
    return n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    produced = produce(n, faasin.output)
    faasin.output.close()  # the consumer sees EOF after the last record
    print(json.dumps({"produced": produced}))


if __name__ == "__main__":
    main()
