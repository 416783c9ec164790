"""A module that fails while it loads: Lambda's init error."""

raise RuntimeError("cannot start: no configuration")


def handler(event, context):
    return "never reached"
