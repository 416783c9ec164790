"""A consumer function: reads JSON records, one a line, from its faasin and
returns (prints on stdout) their count and the sum of their values.

    python consumer.py
"""

import json
from typing import Iterable

import faasin


def consume(lines: Iterable[bytes]) -> dict[str, int]:
    count = total = 0
    for line in lines:
        record = json.loads(line)
        count += 1
        total += record["value"]
    return {"count": count, "sum": total}


def main() -> None:
    print(json.dumps(consume(faasin.input)))


if __name__ == "__main__":
    main()
