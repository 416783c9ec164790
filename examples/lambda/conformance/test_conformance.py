"""The same Lambda handlers (examples/lambda/python under awslambdaric,
examples/lambda/rust's lambda-stream under the Rust runtime client) under
AWS's Runtime Interface Emulator and under `faasin serve`, compared as a
caller sees them. Where faasin answers differently on purpose, the test
asserts the difference that README.md beside this file documents.

Needs FAASIN_RIE (the emulator, scripts/lib/need-rie.sh), FAASIN_BIN (the
`faasin` binary), STREAMING_HANDLER (lambda-stream, built) and scripts/lib on
PYTHONPATH; test.sh sets them."""

import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

import lambda_endpoints as endpoints

HANDLERS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
TIMEOUT_S = 1
# What each side accepts as an event: the emulator cuts a request at its
# MaxPayloadSize (6 MiB + 100 bytes); faasin refuses one over 6 MiB.
RIE_CUT = 6 * 1024 * 1024 + 100
FAASIN_LIMIT = 6 * 1024 * 1024


class Answer:
    """What a caller sees: status, headers, body, and when the body's first
    byte and its end arrived (seconds after the request was sent)."""

    def __init__(self, status, headers, body, first=None, end=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.first = first
        self.end = end

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {dict(self.headers)}, {self.body[:300]!r})"


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST")
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            head = r.read(1)
            first = time.monotonic() - start
            rest = r.read()
            return Answer(r.status, r.headers, head + rest, first, time.monotonic() - start)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


def python(handler):
    return ["python3", "-m", "awslambdaric", handler]


CASES = {
    "echo": python("cases.echo"),
    "fail": python("cases.fail"),
    "sleep": python("cases.sleep"),
    "big": python("cases.big"),
    "broken": python("broken.handler"),
    "context": python("cases.context_of"),
    "stream": [endpoints.need_executable("STREAMING_HANDLER")],
}


# Both sides see the same environment: the handlers' directory on the path;
# the emulator takes the name, timeout and memory (faasin's default) from it.
def runtime_env(**extra):
    env = dict(os.environ, PYTHONPATH=HANDLERS, AWS_LAMBDA_FUNCTION_TIMEOUT=str(TIMEOUT_S),
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", **extra)
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    return env


@pytest.fixture(scope="module")
def tmp():
    with tempfile.TemporaryDirectory(prefix="faasin-conformance-") as d:
        yield d


@pytest.fixture(scope="module")
def served(tmp):
    """Every case as a lambda function of `faasin serve` taking the request
    body as its event, as the emulator does."""
    tables = [endpoints.lambda_function(name, command, "body", TIMEOUT_S, {"PYTHONPATH": HANDLERS})
              for name, command in CASES.items()]
    proc, base = endpoints.serve(tables, tmp, HANDLERS, runtime_env())
    yield base, os.path.join(tmp, "serve.log")
    endpoints.stop(proc)


@pytest.fixture(scope="module")
def both(tmp, served):
    """`both(name, body)`: the answers of the emulator and of faasin serve."""
    base, serve_log = served
    emulators = {}

    def invoke(name, body):
        if name not in emulators:
            log = os.path.join(tmp, f"rie-{name}.log")
            emulators[name] = endpoints.emulator(CASES[name], log, HANDLERS,
                                                 runtime_env(AWS_LAMBDA_FUNCTION_NAME=name))
        rie, ours = post(emulators[name][1], body), post(f"{base}/functions/{name}", body)
        context = f"\nemulator: {rie}\nfaasin: {ours}\nserve log:\n{endpoints.tail(serve_log)}"
        return rie, ours, context

    yield invoke
    for proc, _ in emulators.values():
        endpoints.stop(proc)


def lambda_error(answer):
    e = answer.json()
    return e.get("errorType"), e.get("errorMessage")


def test_success_gives_the_result_and_a_warm_instance_serves_again(both):
    for event in [{"a": 1, "b": [True, None]}, "just a string"]:
        rie, ours, ctx = both("echo", json.dumps(event).encode())
        assert rie.status == ours.status == 200, ctx
        assert rie.json() == ours.json() == event, ctx
        # On purpose: faasin does not guess what a result's bytes are.
        assert rie.headers["Content-Type"] == "text/plain; charset=utf-8", ctx
        assert ours.headers["Content-Type"] == "application/octet-stream", ctx


def test_the_context_a_handler_sees(both):
    rie, ours, ctx = both("context", b"{}")
    assert rie.status == ours.status == 200, ctx
    r, o = rie.json(), ours.json()
    for key in ("function_name", "function_version", "memory_limit_in_mb"):
        assert r[key] == o[key], (key, ctx)
    for c in (r, o):
        assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:function:context",
                            c["invoked_function_arn"]), ctx
        assert 0 < c["remaining_ms"] <= 1000 * TIMEOUT_S, ctx
    # On purpose: faasin's request id is also the token for the
    # invocation's streams; its log group is named as on AWS.
    assert str(uuid.UUID(r["request_id"])) == r["request_id"], ctx
    assert re.fullmatch(r"[0-9a-f]{32}", o["request_id"]), ctx
    assert (r["log_group_name"], o["log_group_name"]) == ("/aws/lambda/Functions", "/aws/lambda/context"), ctx


def test_a_handler_exception_gives_lambdas_error_shape(both):
    want = ("ValueError", "the handler failed on purpose")
    rie, ours, ctx = both("fail", b'{"x": 2}')
    assert lambda_error(rie) == lambda_error(ours) == want, ctx
    assert any("in fail" in line for line in ours.json()["stackTrace"]), ctx
    # On purpose: the emulator answers 200 and leaves it to the body;
    # faasin answers 502 and marks it as AWS's Invoke API does.
    assert rie.status == 200 and "X-Amz-Function-Error" not in rie.headers, ctx
    assert ours.status == 502 and ours.headers["X-Amz-Function-Error"] == "Unhandled", ctx
    # The instance is still there for the next invocation.
    rie, ours, ctx = both("fail", b"3")
    assert lambda_error(rie) == lambda_error(ours) == want, ctx


def test_an_event_that_is_not_json_is_the_runtimes_unmarshal_error(both):
    rie, ours, ctx = both("echo", b"not json")
    assert lambda_error(rie)[0] == lambda_error(ours)[0] == "Runtime.UnmarshalError", ctx
    assert (rie.status, ours.status) == (200, 502), ctx


def test_a_timeout_ends_the_invocation(both):
    start = time.monotonic()
    rie, ours, ctx = both("sleep", b"{}")
    # Both give up after the function's timeout, not the handler's sleep.
    assert time.monotonic() - start < 4 * TIMEOUT_S + 10, ctx
    # On purpose: the emulator answers 200 with a line of text; faasin
    # answers 504 with its usual error, as for any function past its timeout.
    assert rie.status == 200 and rie.body == f"Task timed out after {TIMEOUT_S}.00 seconds".encode(), ctx
    assert ours.status == 504 and "timed out" in ours.json()["error"], ctx


def test_an_init_error_is_502_with_the_runtimes_error(both):
    rie, ours, ctx = both("broken", b"{}")
    assert rie.status == ours.status == 502, ctx
    want = ("RuntimeError", "this module fails at import on purpose")
    assert lambda_error(rie) == lambda_error(ours) == want, ctx


def test_an_event_up_to_the_limit_arrives_whole(both):
    event = "y" * (FAASIN_LIMIT - 2)
    rie, ours, ctx = both("echo", json.dumps(event).encode())
    assert rie.status == ours.status == 200, ctx
    assert rie.json() == ours.json() == event, ctx


def test_an_event_one_byte_over_6_mib_is_refused_by_faasin_only(both):
    event = "y" * (FAASIN_LIMIT - 1)
    rie, ours, ctx = both("echo", json.dumps(event).encode())
    # The emulator's limit is 100 bytes higher.
    assert rie.status == 200 and rie.json() == event, ctx
    assert ours.status == 413 and ours.json()["errorType"] == "RequestTooLarge", ctx


def test_an_event_over_6_mb_is_cut_by_the_emulator_and_refused_by_faasin(both):
    body = json.dumps("y" * (7 << 20)).encode()
    rie, ours, ctx = both("echo", body)
    # The emulator passes the handler the first RIE_CUT bytes: valid JSON
    # arrives cut, as an unterminated string.
    assert rie.status == 200, ctx
    kind, message = lambda_error(rie)
    assert kind == "Runtime.UnmarshalError" and "Unterminated string" in message, ctx
    # On purpose: faasin refuses it before the handler runs.
    assert ours.status == 413 and ours.json()["errorType"] == "RequestTooLarge", ctx
    assert len(body) > RIE_CUT


def test_a_result_over_6_mb_is_refused_by_both(both):
    rie, ours, ctx = both("big", json.dumps({"bytes": 7 << 20}).encode())
    assert rie.status == ours.status == 502, ctx
    assert lambda_error(rie)[0] == lambda_error(ours)[0] == "Function.ResponseSizeTooLarge", ctx


def test_a_streamed_response_reaches_the_caller_as_it_is_made(both):
    event = json.dumps({"count": 100}).encode()  # a line every 5 ms
    lines = b"".join(b"line %d\n" % i for i in range(100))
    both("stream", event)  # both warm: the next answers time the stream alone
    rie, ours, ctx = both("stream", event)
    assert rie.status == ours.status == 200, ctx
    assert rie.headers["Content-Type"] == ours.headers["Content-Type"], ctx
    # On purpose: the emulator passes on the Rust client's HTTP-integration
    # prelude and its eight NULs as body bytes; faasin strips them.
    prelude, nuls, body = rie.body.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 200 and nuls, ctx
    assert body == ours.body == lines, ctx
    # On purpose: the emulator holds the whole response and sends it at
    # the end; faasin sends each line as the handler makes it.
    assert rie.end - rie.first < 0.2 and rie.headers["Content-Length"], ctx
    assert ours.end - ours.first > 0.3, ctx
    assert ours.headers["Transfer-Encoding"] == "chunked", ctx
