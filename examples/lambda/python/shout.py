"""A Lambda handler that is also a FAASIN stage: it streams its faasin to
its faasout in upper case and returns how many bytes it passed on."""

import faasin


def handler(event, context):
    fin, fout = faasin.streams_of(context.aws_request_id)
    n = 0
    with fin, fout:
        while chunk := fin.read1(1 << 16):
            n += fout.write(chunk.upper())
    return {"bytes": n, "query": event["query"]}
