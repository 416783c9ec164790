//! `faasin serve` over HTTP: deploy, invoke with streamed bodies, return
//! values and reports, the admin API, concurrency and the queue's limit,
//! metrics. The faults are in serve_faults.rs.

mod common;
use common::service::*;
use common::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Duration;

/// An endless source of pseudo-random bytes, `n` in all.
struct Gen {
    left: u64,
    state: u64,
}

impl Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let len = b.len();
            b.copy_from_slice(&self.state.to_le_bytes()[..len]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_chain_streams_the_body_through_and_reports_every_function() {
    let defs = [
        peer_fn("cat", &["cat"], "serve-basic", "max_instances = 2"),
        function("upper", &["tr", "a-z", "A-Z"], "stdio = true"),
        chain("shout", &["cat", "upper", "cat"], "capacity = 65536"),
    ]
    .concat();
    let s = Served::start("basic", &defs);
    let body: Vec<u8> = (0..5 << 20).map(|i| b"abcdefgh\n"[i % 9]).collect();
    for round in 0..2 {
        let (status, out, report) = s.invoke("/chains/shout", body.clone());
        assert_eq!(status, 200, "{}", s.log());
        assert!(
            out == body.to_ascii_uppercase(),
            "round {round}: output differs"
        );
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["output_bytes"], body.len());
        let fs = report["functions"].as_array().unwrap();
        assert_eq!(fs.len(), 3);
        assert_eq!(fs[0]["return_value"]["bytes"], body.len(), "{report}");
        assert_eq!(fs[1]["return_value"]["exit_code"], 0, "{report}");
        for f in fs {
            // Cold at first, warm after.
            assert_eq!(f["cold"], round == 0, "round {round}: {report}");
        }
    }
    let r = s.post("/chains/nope", "x");
    assert_eq!(r.status(), 404);
    let e: serde_json::Value = r.json().unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("no chain \"nope\""),
        "{e}"
    );
    let r = s.post("/functions/upper", "one function alone");
    assert_eq!(r.text().unwrap(), "ONE FUNCTION ALONE");
}

/// Two warm instances that meet again keep the edge between them, as in
/// `faasin run --warm`: granted to keep in their second invocation, then
/// restarted, each invocation's bytes its own. Two instances of one
/// function in a chain are leased in the order they came back, so each
/// meets the same neighbour again.
#[test]
fn neighbours_that_meet_again_keep_their_edge() {
    let defs = [
        peer_fn("one", &["cat"], "serve-kept", "max_instances = 1"),
        peer_fn("two", &["cat"], "serve-kept", "max_instances = 1"),
        peer_fn("twice", &["cat"], "serve-kept", "max_instances = 2"),
        chain("pair", &["one", "two"], ""),
        chain("same", &["twice", "twice"], ""),
    ]
    .concat();
    let s = Served::start("kept", &defs);
    for path in ["/chains/pair", "/chains/same"] {
        let mut kept = Vec::new();
        for round in 0..4 {
            let body = bytes(1000 + 70_000 * (round % 2), round as u64 + 1);
            let (status, out, report) = s.invoke(path, body.clone());
            assert_eq!(status, 200, "{}", s.log());
            assert!(out == body, "{path} round {round}: output differs");
            kept.push(report["kept_edges"].as_u64().unwrap());
        }
        assert_eq!(kept, [0, 0, 1, 1], "{path}");
    }
}

#[test]
fn a_gigabyte_goes_through_in_bounded_memory() {
    let defs = [
        peer_fn("cat", &["cat"], "serve-gib", "max_instances = 3"),
        chain("three", &["cat", "cat", "cat"], ""),
    ]
    .concat();
    let s = Served::start("gib", &defs);
    let size = 1u64 << 30;
    // curl streams both ways at once: the upload goes on while the
    // response comes back, as the chain streams it.
    let mut curl = std::process::Command::new("curl")
        .args(["-sS", "--fail", "-T", "-", "-X", "POST"])
        .arg(format!("{}/chains/three", s.base))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    let mut up = curl.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        std::io::copy(
            &mut Gen {
                left: size,
                state: 7,
            },
            &mut up,
        )
        .unwrap();
    });
    let mut got = Sha256::new();
    let n = std::io::copy(&mut curl.stdout.take().unwrap(), &mut got).unwrap();
    feeder.join().unwrap();
    assert!(curl.wait().unwrap().success(), "{}", s.log());
    assert_eq!(n, size);
    let mut want = Sha256::new();
    std::io::copy(
        &mut Gen {
            left: size,
            state: 7,
        },
        &mut want,
    )
    .unwrap();
    assert_eq!(got.finalize(), want.finalize());
    // The body streamed: the service never held more than a few chunks.
    let peak = s.peak_rss();
    assert!(peak < 200 << 20, "the service peaked at {} MiB", peak >> 20);
}

#[test]
fn parameters_and_the_environment_reach_functions() {
    let defs = [
        peer_fn(
            "env",
            &["env", "GREETING"],
            "serve-env",
            "env = { GREETING = \"hello\" }",
        ),
        chain("both", &["env"], ""),
    ]
    .concat();
    let s = Served::start("params", &defs);
    let (_, out, report) = s.invoke("/chains/both?x=1", "in");
    assert_eq!(out, b"in");
    assert_eq!(report["functions"][0]["return_value"], "hello", "{report}");
    assert_eq!(report["params"]["query"]["x"], "1", "{report}");
}

#[test]
fn the_admin_api_deploys_replaces_and_refuses_bad_definitions() {
    let s = Served::start("admin", "");
    let put = |path: &str, body: serde_json::Value| {
        s.client
            .put(format!("{}{path}", s.admin))
            .json(&body)
            .send()
            .unwrap()
    };
    let peer = peer_bin().display().to_string();
    let f = serde_json::json!({"command": [peer, "warm", "env", "V"], "env": {"V": "one"}});
    assert_eq!(put("/functions/f", f.clone()).status(), 201);
    assert_eq!(
        put("/chains/c", serde_json::json!({"functions": ["f"]})).status(),
        201
    );
    let first = s.invoke("/chains/c", "x").2;
    assert_eq!(first["functions"][0]["return_value"], "one");
    // Replaced: the next invocation runs the new definition.
    let mut f2 = f.clone();
    f2["env"]["V"] = "two".into();
    assert_eq!(put("/functions/f", f2).status(), 200);
    let second = s.invoke("/chains/c", "x").2;
    assert_eq!(second["functions"][0]["return_value"], "two");
    // Bad definitions: 400 naming the field, and nothing changes.
    let bad = [
        (
            "/functions/g",
            serde_json::json!({"command": []}),
            "command",
        ),
        (
            "/functions/g",
            serde_json::json!({"command": "x", "timeout": 0}),
            "timeout",
        ),
        (
            "/functions/g",
            serde_json::json!({"command": "x", "tiemout": 1}),
            "body",
        ),
        (
            "/functions/g",
            serde_json::json!({"command": "x", "name": "h"}),
            "name",
        ),
        (
            "/chains/d",
            serde_json::json!({"functions": ["f", "nope"]}),
            "functions[1]",
        ),
        (
            "/chains/d",
            serde_json::json!({"functions": ["f"], "capacity": 5}),
            "capacities[0]",
        ),
        (
            "/chains/d",
            serde_json::json!({"functions": ["f"], "transport": "s3"}),
            "transport",
        ),
    ];
    for (path, body, field) in bad {
        let r = put(path, body);
        assert_eq!(r.status(), 400, "{path}");
        let e: serde_json::Value = r.json().unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
        assert!(!e["error"]["reason"].as_str().unwrap().is_empty());
    }
    let list: serde_json::Value = s
        .client
        .get(format!("{}/functions", s.admin))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // A function in use is not deleted; once its chain is gone, it is.
    let del = |path: &str| {
        s.client
            .delete(format!("{}{path}", s.admin))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(del("/functions/f"), 409);
    assert_eq!(del("/chains/c"), 204);
    assert_eq!(del("/chains/c"), 404);
    assert_eq!(del("/functions/f"), 204);
    assert_eq!(s.post("/chains/c", "x").status(), 404);
}

#[test]
fn invocations_run_side_by_side_and_the_queue_is_bounded() {
    let defs = [
        function(
            "slow",
            &["sh", "-c", "sleep 1; cat", "serve-queue"],
            "stdio = true\nmax_instances = 2\nqueue = 1",
        ),
        chain("slow", &["slow"], ""),
    ]
    .concat();
    let s = std::sync::Arc::new(Served::start("queue", &defs));
    let calls: Vec<_> = (0..5)
        .map(|k| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50 * k));
                let r = s.post("/chains/slow", format!("call {k}"));
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").is_some();
                let id = id_of(&r);
                let _ = r.bytes();
                let report = (status == 200).then(|| s.report(&id));
                (status, retry, report)
            })
        })
        .collect();
    let results: Vec<_> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    let ok: Vec<_> = results.iter().filter_map(|r| r.2.clone()).collect();
    let refused = results.iter().filter(|r| r.0 == 429).count();
    // Two run at once, one waits in the queue, the rest are refused.
    assert_eq!(ok.len(), 3, "{results:?}");
    assert_eq!(refused, 2, "{results:?}");
    assert!(
        results.iter().filter(|r| r.0 == 429).all(|r| r.1),
        "429 carries Retry-After"
    );
    let span = |r: &serde_json::Value| {
        let start = r["started_unix_s"].as_f64().unwrap();
        (start, start + r["elapsed_s"].as_f64().unwrap())
    };
    let mut spans: Vec<_> = ok.iter().map(span).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        spans[1].0 < spans[0].1,
        "the first two ran side by side: {spans:?}"
    );
    assert!(
        ok.iter().any(|r| r["queued_s"].as_f64().unwrap() > 0.5),
        "one waited: {ok:?}"
    );
}

#[test]
fn metrics_count_invocations_cold_starts_and_instances() {
    let defs = [
        peer_fn("cat", &["cat"], "serve-metrics", ""),
        chain("one", &["cat"], ""),
    ]
    .concat();
    let s = Served::start("metrics", &defs);
    for _ in 0..3 {
        // The whole response and the report: the invocation is over.
        assert_eq!(s.invoke("/chains/one", "abc").0, 200);
    }
    let m = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for want in [
        "faasin_invocations_total{target=\"chain/one\",code=\"200\"} 3",
        "faasin_cold_starts_total{function=\"cat\"} 1",
        "faasin_instances{function=\"cat\",state=\"idle\"} 1",
        "faasin_invocation_duration_seconds_count{target=\"chain/one\"} 3",
        "faasin_stream_bytes_total{direction=\"out\"} 9",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
}

#[test]
fn instances_outlive_the_threads_that_started_them() {
    let defs = [
        peer_fn("cat", &["cat"], "serve-outlive", ""),
        chain("one", &["cat"], ""),
    ]
    .concat();
    let s = Served::start("outlive", &defs);
    assert_eq!(
        s.invoke("/chains/one", "first").2["functions"][0]["cold"],
        true
    );
    // Longer than the async runtime keeps an idle blocking thread: the
    // parent-death signal follows the thread that forked an instance.
    std::thread::sleep(Duration::from_secs(12));
    let report = s.invoke("/chains/one", "again").2;
    assert_eq!(report["functions"][0]["cold"], false, "{report}");
}
