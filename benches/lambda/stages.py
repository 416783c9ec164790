"""The benchmark's Lambda handler, one stage of a three-stage chain, in the
two shapes a chain can take (each runs under awslambdaric):

- `event_stage`: Lambda as chains use it today: the event is the previous
  stage's result (a JSON string: the data is text, so it needs no base64),
  and the result goes back through the Runtime API to become the next
  stage's event.
- `stream_stage`: the invocation's faasin streams from the previous stage
  and its faasout to the next.

Both forward the data unchanged, so moving it is the work measured."""

import faasin

# The runtime client runs one invocation at a time: one buffer serves all.
BUF = memoryview(bytearray(1 << 20))


def event_stage(event, context):
    return event


def stream_stage(event, context):
    fin, fout = faasin.streams_of(context.aws_request_id)
    n = 0
    with fout:
        while k := fin.readinto(BUF):
            fout.write(BUF[:k])
            n += k
    return {"bytes": n}
