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


def context(event, context):
    """What the runtime client tells a handler about its invocation."""
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
