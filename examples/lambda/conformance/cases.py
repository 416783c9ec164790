"""Lambda handlers for the conformance test: each case runs unchanged under
AWS's emulator and under `faasin serve`, with awslambdaric as the runtime
client (`python3 -m awslambdaric cases.NAME`)."""

import json
import time


def ok(event, context):
    return {"event": event, "function": context.function_name}


def fail(event, context):
    raise ValueError("bad input: " + json.dumps(event))


def slow(event, context):
    time.sleep(60)
    return "too late"


def size(event, context):
    """The length of a string event: shows whether it arrived whole."""
    return {"chars": len(event)}


def big(event, context):
    """A result over Lambda's 6 MB response limit."""
    return "x" * (7 << 20)
