"""A handler module whose import fails: the runtime reports an init error."""

raise RuntimeError("this module fails at import on purpose")


def handler(event, context):
    return event
