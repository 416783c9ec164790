//! Chains across two nodes: two `faasin serve` services in two network
//! namespaces joined by a veth pair, the same functions deployed on both.
//! A pinned function streams across (TCP edges both ways) and the bytes
//! arrive intact; a node killed mid-invocation fails it with a 502 naming
//! the node instead of a hang; nothing is left in the namespaces.

mod common;
use common::nodes::Nodes;
use common::service::{chain, peer_fn};
use common::*;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn defs(tag: &str) -> String {
    [
        peer_fn("first", &["cat"], tag, ""),
        peer_fn("mid", &["cat"], tag, "max_instances = 1"),
        peer_fn("last", &["cat"], tag, ""),
        chain("local", &["first", "last"], ""),
        chain(
            "across",
            &["first", "mid", "last"],
            "pin = { mid = \"zone=west\" }",
        ),
        chain("far", &["mid"], "pin = { mid = \"node=b\" }"),
        chain("spread", &["first", "mid", "last"], ""),
        chain("hold", &["mid"], ""),
    ]
    .concat()
}

/// (kind, from node, to node) of each edge in a report.
fn edges(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    (report["edges"]
        .as_array()
        .expect("edges in the report")
        .iter())
    .map(|e| (s(&e["kind"]), s(&e["from_node"]), s(&e["to_node"])))
    .collect()
}

fn edge(kind: &str, from: &str, to: &str) -> (String, String, String) {
    (kind.into(), from.into(), to.into())
}

/// The edges of a chain of three whose middle function runs on b.
fn middle_on_b() -> Vec<(String, String, String)> {
    vec![
        edge("ring", "a", "a"),
        edge("tcp", "a", "b"),
        edge("tcp", "b", "a"),
        edge("ring", "a", "a"),
    ]
}

#[test]
fn a_pinned_function_streams_across_nodes_and_back() {
    let nodes = Nodes::start("across", &defs("across-test"));
    let body = bytes(16 << 20, 21);
    let input = nodes.dir.join("input");
    std::fs::write(&input, &body).unwrap();
    let sha = hex(&Sha256::digest(&body));

    let (status, out, id) = nodes.invoke("/chains/local", &input);
    assert_eq!(status, 200, "{}", nodes.log(0));
    assert!(out == body, "the local chain changed the bytes");
    let r = nodes.report(&id);
    assert_eq!(edges(&r), vec![edge("ring", "a", "a"); 3], "{r}");

    for round in 0..2 {
        let (status, out, id) = nodes.invoke("/chains/across", &input);
        let r = nodes.report(&id);
        assert_eq!(status, 200, "{r}\na: {}\nb: {}", nodes.log(0), nodes.log(1));
        assert_eq!(
            hex(&Sha256::digest(&out)),
            sha,
            "round {round}: output differs"
        );
        assert_eq!(edges(&r), middle_on_b(), "{r}");
        let fs = r["functions"].as_array().unwrap();
        let where_: Vec<&str> = fs.iter().map(|f| f["node"].as_str().unwrap()).collect();
        assert_eq!(where_, ["a", "b", "a"], "{r}");
        for f in fs {
            // Every function saw the same bytes, whichever side of a
            // network it ran on.
            assert_eq!(f["return_value"]["sha256"], sha.as_str(), "{r}");
            // a's were warmed by the local chain; b's start cold once.
            let cold = round == 0 && f["node"] == "b";
            assert_eq!(f["cold"], cold, "round {round}: {r}");
        }
    }

    // The service's own input and output edges cross too.
    let (status, out, id) = nodes.invoke("/chains/far", &input);
    let r = nodes.report(&id);
    assert_eq!(status, 200, "{r}");
    assert!(out == body, "the far chain changed the bytes");
    assert_eq!(
        edges(&r),
        [edge("tcp", "a", "b"), edge("tcp", "b", "a")],
        "{r}"
    );

    // A bad segment request gets a clear error from the peer API, and runs
    // nothing.
    let segment = |functions: &str, capacity: u64| {
        let body = format!(
            r#"{{"id": "t", "first": 0, "functions": {functions}, "capacities": [{capacity}],
                "params": null, "output": {{"addr": "10.213.0.1:9100", "token": "{}"}}}}"#,
            "0".repeat(32)
        );
        let o = nodes.curl_in(
            0,
            &[
                "-sS",
                "-w",
                "\n%{http_code}",
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
                "http://10.213.0.2:9101/segments",
            ],
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let nope = segment(r#"["nope"]"#, 65536);
    assert!(nope.ends_with("404") && nope.contains("deployed"), "{nope}");
    let odd = segment(r#"["mid"]"#, 1000);
    assert!(odd.ends_with("400") && odd.contains("capacities"), "{odd}");
    nodes.finish();
}

#[test]
fn a_node_killed_mid_invocation_fails_it_naming_the_node() {
    let mut nodes = Nodes::start("kill", &defs("across-kill-test"));
    let (mut curl, hdr) = start_slow(&nodes, "/chains/across", 32);
    let text = std::fs::read_to_string(&hdr).unwrap();
    let id = (text.lines())
        .find_map(|l| l.strip_prefix("faasin-invocation-id: "))
        .expect("an invocation id")
        .trim()
        .to_string();
    nodes.kill(1);
    let killed = Instant::now();
    let mut r = nodes.report(&id);
    while r["state"] != "done" && killed.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
        r = nodes.report(&id);
    }
    assert_eq!(
        r["state"], "done",
        "the invocation hung after the node died: {r}"
    );
    // The output had begun: the response is cut off (no final chunk) once
    // the upload is over; the rest of the upload is not waited for here.
    let _ = curl.kill();
    let _ = curl.wait();
    assert_eq!(r["status"], 502, "{r}");
    let e = r["error"].as_str().unwrap_or_default();
    assert!(e.contains("node \"b\""), "{r}");
    // Node a still serves, with fresh instances where the dead ones were.
    let small = nodes.dir.join("small");
    std::fs::write(&small, b"after").unwrap();
    let (status, out, _) = nodes.invoke("/chains/local", &small);
    assert_eq!((status, out.as_slice()), (200, &b"after"[..]));
    nodes.finish();
}

/// Starts a slow invocation of `path` in node a (curl as a child) and
/// waits until its output has begun: its functions are busy.
fn start_slow(nodes: &Nodes, path: &str, mib: usize) -> (std::process::Child, PathBuf) {
    let input = nodes.dir.join(format!("slow-input{mib}"));
    std::fs::write(&input, bytes(mib << 20, 7)).unwrap();
    let (hdr, out) = (nodes.dir.join("slow-headers"), nodes.dir.join("slow-out"));
    let curl = nodes
        .upload(path, &input, &hdr, &out)
        .args(["--limit-rate", "2M"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(20),
        || format!("the output never began; a: {}", nodes.log(0)),
        || std::fs::metadata(&out).is_ok_and(|m| m.len() > 0),
    );
    (curl, hdr)
}

#[test]
fn a_function_without_room_here_spills_to_the_peer() {
    let nodes = Nodes::start("spill", &defs("across-spill-test"));
    let body = bytes(4 << 20, 3);
    let input = nodes.dir.join("input");
    std::fs::write(&input, &body).unwrap();
    // With room, all of it runs here.
    let (status, _, id) = nodes.invoke("/chains/spread", &input);
    assert_eq!(status, 200);
    assert_eq!(edges(&nodes.report(&id)), vec![edge("ring", "a", "a"); 4]);
    // a's only `mid` is busy: the next invocation's `mid` runs on b.
    let (mut curl, _) = start_slow(&nodes, "/chains/hold", 16);
    let (status, out, id) = nodes.invoke("/chains/spread", &input);
    let r = nodes.report(&id);
    assert_eq!(status, 200, "{r}");
    assert!(out == body, "the spilled chain changed the bytes");
    assert_eq!(edges(&r), middle_on_b(), "{r}");
    let _ = curl.kill();
    let _ = curl.wait();
    nodes.finish();
}
