"""Lambda handlers for the cases a caller must see through `faasin serve`
as through Lambda: a result, the event handed back (with `event = "body"`,
the request body), a handler's exception, a timeout, a result of a given
size, a runtime that crashes, and what the context carries."""

import os
import time


def echo(event, context):
    return event


def fail(event, context):
    raise ValueError("the handler failed on purpose")


def sleep(event, context):
    time.sleep(float(event.get("seconds", 60)) if isinstance(event, dict) else 60)
    return {"slept": True}


def context_of(event, context):
    return {
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "invoked_function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def big(event, context):
    return "a" * event["bytes"]


def crash(event, context):
    if event.get("exit"):
        os._exit(3)
    return {"alive": True}
