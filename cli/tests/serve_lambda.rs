//! Lambda functions under `faasin serve`, run by AWS's own runtime
//! interface client for Python (`awslambdaric`, from PyPI): results, the
//! handler's streams, and what a caller sees when a handler raises, times
//! out, fails its start, crashes, never asks for work, or gets an event or
//! returns a result over Lambda's limit. They need a Python with
//! awslambdaric and the faasin package in env `FAASIN_LAMBDA_PYTHON`;
//! examples/lambda/test.sh installs both and runs them.

mod common;
use common::service::*;
use common::*;
use std::time::{Duration, Instant};

fn python() -> String {
    std::env::var("FAASIN_LAMBDA_PYTHON").unwrap_or_else(|_| {
        panic!("FAASIN_LAMBDA_PYTHON must name a Python with awslambdaric and faasin: run examples/lambda/test.sh")
    })
}

/// The handlers' folder, examples/lambda/python.
fn task_root() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lambda/python");
    root.canonicalize().unwrap().display().to_string()
}

/// A `[[function]]` of kind lambda: `handler` (module.function in
/// examples/lambda/python) under awslambdaric.
fn lambda_fn(name: &str, handler: &str, extra: &str) -> String {
    let py = python();
    function(
        name,
        &[&py, "-m", "awslambdaric", handler],
        &format!(
            "kind = \"lambda\"\nhandler = \"{handler}\"\nenv = {{ LAMBDA_TASK_ROOT = \"{}\" }}\n{extra}",
            task_root()
        ),
    )
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

#[test]
#[ignore = "needs awslambdaric; examples/lambda/test.sh runs it"]
fn a_handler_streams_its_faasin_to_its_faasout_in_a_chain() {
    let defs = [
        lambda_fn("shout", "shout.handler", ""),
        function("cat", &[faasin_bin().to_str().unwrap(), "cat"], ""),
        chain("loud", &["shout", "cat"], "capacity = 65536"),
    ]
    .concat();
    let s = Served::start("lambda-chain", &defs);
    // More than the ring holds, so handler and reader stream at once.
    let text: Vec<u8> = (0..3 << 20).map(|i| b"abcdefgh\n"[i % 9]).collect();
    for round in 0..2 {
        let (status, body, report) = s.invoke("/chains/loud?who=me", text.clone());
        assert_eq!(status, 200, "{report}\n{}", s.log());
        assert_eq!(body, text.to_ascii_uppercase(), "round {round}");
        let f = &report["functions"][0];
        assert_eq!(f["return_value"]["bytes"], text.len(), "{report}");
        assert_eq!(
            f["return_value"]["query"]["who"], "me",
            "the event is the parameters"
        );
        assert_eq!(
            f["cold"],
            round == 0,
            "warm from the second round on: {report}"
        );
    }
}

#[test]
#[ignore = "needs awslambdaric; examples/lambda/test.sh runs it"]
fn the_readmes_example_runs_as_documented() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(here.join("examples/lambda/platform.toml")).unwrap();
    // Run from the repository root, with this test's Python and faasin.
    let root = here.canonicalize().unwrap().display().to_string();
    let text = text
        .replace("\"python3\"", &format!("{:?}", python()))
        .replace(
            "\"faasin\"",
            &format!("{:?}", faasin_bin().display().to_string()),
        )
        .replace("\"examples/", &format!("\"{root}/examples/"));
    let s = Served::start("lambda-readme", &text);
    let (status, body, report) = s.invoke("/chains/loud?who=me", "hello lambda");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"HELLO LAMBDA"[..]),
        "{report}"
    );
    let shout = &report["functions"][0]["return_value"];
    assert_eq!(
        shout,
        &serde_json::json!({"bytes": 12, "query": {"who": "me"}})
    );
    assert_eq!(
        report["functions"][1]["return_value"],
        serde_json::json!({"bytes": 12})
    );
}

#[test]
#[ignore = "needs awslambdaric; examples/lambda/test.sh runs it"]
fn the_context_carries_lambdas_fields_and_the_request_id() {
    let defs = lambda_fn("ctx", "cases.context_of", "timeout = 7");
    let s = Served::start("lambda-ctx", &defs);
    let (status, body, report) = s.invoke("/functions/ctx", "");
    assert_eq!(status, 200, "{report}");
    assert!(
        body.is_empty(),
        "the result is the return value, not the body"
    );
    let v = &report["functions"][0]["return_value"];
    assert_eq!(v["function_name"], "ctx");
    assert_eq!(v["memory_limit_in_mb"].to_string().trim_matches('"'), "128");
    assert_eq!(
        v["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:ctx"
    );
    let left = v["remaining_ms"].as_i64().unwrap();
    assert!((5_000..=7_000).contains(&left), "{v}");
    assert_eq!(v["request_id"].as_str().unwrap().len(), 32, "{v}");
}

#[test]
#[ignore = "needs awslambdaric; examples/lambda/test.sh runs it"]
fn body_events_and_the_errors_a_caller_sees() {
    let body = "event = \"body\"";
    let defs = [
        lambda_fn("echo", "cases.echo", body),
        lambda_fn("fail", "cases.fail", body),
        lambda_fn("sleep", "cases.sleep", &format!("{body}\ntimeout = 2")),
        lambda_fn("big", "cases.big", body),
    ]
    .concat();
    let s = Served::start("lambda-body", &defs);

    let (status, out, _) = s.invoke("/functions/echo", r#"{"a": [1, 2]}"#);
    assert_eq!(
        (status, json(&out)),
        (200, serde_json::json!({"a": [1, 2]}))
    );

    let r = s.post("/functions/fail", "{}");
    assert_eq!(r.status().as_u16(), 502);
    assert_eq!(r.headers()["x-amz-function-error"], "Unhandled");
    let e = json(&r.bytes().unwrap());
    assert_eq!(e["errorType"], "ValueError", "{e}");
    assert_eq!(e["errorMessage"], "the handler failed on purpose");
    assert!(e["stackTrace"].to_string().contains("cases.py"), "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("function 1 (fail)"),
        "{e}"
    );
    // The runtime lives on after a handler's exception.
    let (status, _, report) = s.invoke("/functions/fail", "{}");
    assert_eq!(
        (status, &report["functions"][0]["cold"]),
        (502, &false.into())
    );

    let t0 = Instant::now();
    let (status, out, _) = s.invoke("/functions/sleep", r#"{"seconds": 30}"#);
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&out));
    assert!(t0.elapsed() < Duration::from_secs(10));
    let (status, out, _) = s.invoke("/functions/sleep", r#"{"seconds": 0}"#);
    assert_eq!(
        (status, json(&out)),
        (200, serde_json::json!({"slept": true}))
    );

    let over = format!("\"{}\"", "a".repeat(6 << 20));
    let r = s.post("/functions/echo", over);
    assert_eq!(r.status().as_u16(), 413);
    assert!(r.headers().get("x-amz-function-error").is_none());
    assert_eq!(json(&r.bytes().unwrap())["errorType"], "RequestTooLarge");
    let (status, out, _) = s.invoke("/functions/echo", "[1]");
    assert_eq!((status, json(&out)), (200, serde_json::json!([1])));

    let (status, out, _) = s.invoke("/functions/big", r#"{"bytes": 7000000}"#);
    assert_eq!(status, 502);
    assert_eq!(json(&out)["errorType"], "Function.ResponseSizeTooLarge");
    // awslambdaric exits when its response is refused; its host starts it
    // again for the next invocation.
    let (status, out, _) = s.invoke("/functions/big", r#"{"bytes": 6000000}"#);
    assert_eq!(
        (status, out.len()),
        (200, 6000002),
        "a JSON string of 6 000 000 bytes"
    );
}

#[test]
#[ignore = "needs awslambdaric; examples/lambda/test.sh runs it"]
fn a_runtime_that_fails_is_reported_and_replaced() {
    let py = python();
    let defs = [
        lambda_fn("broken", "broken.handler", ""),
        lambda_fn("crash", "cases.crash", "event = \"body\""),
        function(
            "mute",
            &[&py, "-c", "import time; time.sleep(60)"],
            "kind = \"lambda\"",
        ),
    ]
    .concat();
    let s = Served::start("lambda-faults", &defs);
    for _ in 0..2 {
        let r = s.post("/functions/broken", "");
        assert_eq!(r.status().as_u16(), 502);
        let e = json(&r.bytes().unwrap());
        assert_eq!(e["errorType"], "RuntimeError", "{e}");
        assert!(e["stackTrace"].to_string().contains("broken.py"), "{e}");
    }
    for _ in 0..2 {
        let (status, out, report) = s.invoke("/functions/crash", r#"{"exit": true}"#);
        assert_eq!(status, 502, "{report}");
        assert_eq!(json(&out)["errorType"], "Runtime.ExitError", "{report}");
        // Started again, as Lambda resets a sandbox.
        let (status, out, _) = s.invoke("/functions/crash", "{}");
        assert_eq!(
            (status, json(&out)),
            (200, serde_json::json!({"alive": true}))
        );
    }
    let t0 = Instant::now();
    let (status, out, _) = s.invoke("/functions/mute", "");
    assert_eq!(status, 502);
    assert_eq!(json(&out)["errorType"], "Runtime.InitTimeout");
    assert!(t0.elapsed() < Duration::from_secs(20));
}

/// The other official runtime clients, as examples/lambda/test.sh installs
/// them: Node's (`aws-lambda-ric`), Java's (its classpath) and Rust's
/// (`lambda_runtime`, the example binaries built next to `faasin`).
fn node_ric() -> String {
    let ric = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/lambda/node/node_modules/aws-lambda-ric/bin/index.mjs");
    assert!(
        ric.exists(),
        "{} is missing: run examples/lambda/test.sh",
        ric.display()
    );
    ric.canonicalize().unwrap().display().to_string()
}

fn node_fn(name: &str, handler: &str, extra: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lambda/node");
    let root = root.canonicalize().unwrap().display().to_string();
    function(
        name,
        &["node", &node_ric(), handler],
        &format!("kind = \"lambda\"\nenv = {{ LAMBDA_TASK_ROOT = \"{root}\" }}\n{extra}"),
    )
}

fn java_fn(name: &str, handler: &str) -> String {
    let cp = std::env::var("FAASIN_LAMBDA_JAVA_CP").expect(
        "FAASIN_LAMBDA_JAVA_CP must be the Java handlers' classpath: run examples/lambda/test.sh",
    );
    let main = "com.amazonaws.services.lambda.runtime.api.client.AWSLambda";
    function(
        name,
        &["java", "-cp", &cp, main, handler],
        "kind = \"lambda\"",
    )
}

fn rust_fn(name: &str, bin: &str, extra: &str) -> String {
    let exe = faasin_bin().parent().unwrap().join(bin);
    assert!(
        exe.exists(),
        "{} is missing: run examples/lambda/test.sh",
        exe.display()
    );
    let exe = exe.display().to_string();
    function(name, &[&exe], &format!("kind = \"lambda\"\n{extra}"))
}

#[test]
#[ignore = "needs the runtime clients; examples/lambda/test.sh runs it"]
fn handlers_in_four_languages_stream_through_one_chain() {
    let defs = [
        lambda_fn("py", "shout.handler", ""),
        node_fn("js", "shout.handler", ""),
        java_fn("java", "example.Shout::handleRequest"),
        rust_fn("rs", "lambda-shout", ""),
        chain("four", &["py", "js", "java", "rs"], "capacity = 65536"),
    ]
    .concat();
    let s = Served::start("lambda-four", &defs);
    let text: Vec<u8> = (0..2 << 20).map(|i| b"faasin lambda\n"[i % 14]).collect();
    let (status, body, report) = s.invoke("/chains/four?lang=all", text.clone());
    assert_eq!(status, 200, "{report}\n{}", s.log());
    assert_eq!(body, text.to_ascii_uppercase());
    for k in 0..4 {
        let v = &report["functions"][k]["return_value"];
        assert_eq!(v["bytes"], text.len(), "function {}: {report}", k + 1);
        assert_eq!(v["query"]["lang"], "all", "function {}: {report}", k + 1);
    }
}

#[test]
#[ignore = "needs the runtime clients; examples/lambda/test.sh runs it"]
fn streamed_responses_from_node_and_rust() {
    let body = "event = \"body\"";
    let defs = [
        node_fn("js", "stream.handler", body),
        rust_fn("rs", "lambda-stream", body),
    ]
    .concat();
    let s = Served::start("lambda-stream", &defs);
    let lines: String = (0..40).map(|i| format!("line {i}\n")).collect();
    for f in ["js", "rs"] {
        let (status, out, report) = s.invoke(&format!("/functions/{f}"), r#"{"count": 40}"#);
        assert_eq!(status, 200, "{f}: {report}");
        assert_eq!(
            String::from_utf8_lossy(&out),
            lines,
            "{f}: the lines, and no prelude"
        );
    }
    // An error after the lines began (error trailers) cuts the response off.
    let r = s.post("/functions/js", r#"{"count": 3, "fail": true}"#);
    assert_eq!(r.status().as_u16(), 200);
    let id = id_of(&r);
    assert!(r.bytes().is_err(), "the response must not end cleanly");
    let report = s.report(&id);
    assert_eq!(report["status"], 502, "{report}");
    assert_eq!(
        report["lambda_error"]["errorMessage"],
        "failed after streaming on purpose"
    );
}
