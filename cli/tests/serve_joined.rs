//! Instances that someone else starts (a Kubernetes pod, here a process the
//! test starts) join `faasin serve` through its handoff socket with their
//! function's join token, and serve invocations as warm instances the
//! service started would; a wrong token is refused, an instance that dies
//! leaves the pool, and a replaced function tells its instances to go.

mod common;
use common::service::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

/// A `peer warm cat` started by the test, joining at `socket` with `token`.
fn joining(socket: &Path, token: &str, marker: &str) -> Child {
    Command::new(peer_bin())
        .args(["warm", "cat", marker])
        .env(faasin::handoff::ENV_SOCKET, socket)
        .env(faasin::handoff::ENV_TOKEN, token)
        .env(faasin::ENV_WARM, faasin::WARM_STAYS)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn peer")
}

fn exited_within(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(st) = c.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A service whose function `cat` has instances that join, and the socket
/// they join at.
fn service(tag: &str) -> (Served, PathBuf) {
    let dir = tmpdir(&format!("joined-{tag}"));
    let secret = dir.join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let handoff = dir.join("handoff");
    let defs = format!(
        "queue_wait = 1\njoin_secret_file = {secret:?}\nhandoff_dir = {handoff:?}\n{}{}",
        "[[function]]\nname = \"cat\"\njoins = true\nmax_instances = 2\n",
        chain("twice", &["cat", "cat"], ""),
    );
    (Served::start(tag, &defs), handoff.join("handoff.sock"))
}

#[test]
fn joined_instances_serve_invocations_until_they_leave() {
    let (s, socket) = service("serve");
    let body = bytes(3 << 20, 7);
    // None joined yet: the invocation waits its queue time, then 503.
    let t = Instant::now();
    let r = s.post("/functions/cat", body.clone());
    assert_eq!(r.status(), 503, "{}", s.log());
    assert!(t.elapsed() < Duration::from_secs(10));

    let mut a = joining(&socket, &format!("{SECRET}/cat"), "joined-serve-a");
    let mut b = joining(&socket, &format!("{SECRET}/cat"), "joined-serve-b");
    wait_until(
        Duration::from_secs(20),
        || s.log(),
        || s.post("/chains/twice", "x").status() == 200,
    );
    for _ in 0..3 {
        let (status, out, report) = s.invoke("/chains/twice", body.clone());
        assert_eq!(status, 200, "{}", s.log());
        assert!(out == body, "output differs");
        let fs = report["functions"].as_array().unwrap();
        assert_eq!(fs.len(), 2, "{report}");
        for f in fs {
            assert_eq!(f["cold"], false, "{report}");
            assert_eq!(f["return_value"]["bytes"], body.len(), "{report}");
        }
    }

    // A third may not join (max_instances = 2): it is told there is no
    // work, and ends by itself.
    let mut c = joining(&socket, &format!("{SECRET}/cat"), "joined-serve-c");
    let st = exited_within(&mut c, Duration::from_secs(10)).expect("a third instance stays");
    assert!(st.success(), "{st:?}");
    assert!(s.log().contains("turned away"), "{}", s.log());

    // A wrong secret, or a function that does not join: refused.
    for token in [
        "fffffffffffffffffffffffffffffffff-test/cat".to_string(),
        format!("{SECRET}/nope"),
    ] {
        let mut w = joining(&socket, &token, "joined-serve-w");
        let st = exited_within(&mut w, Duration::from_secs(10)).expect("a refused instance stays");
        assert!(!st.success(), "{token}: {st:?}");
    }

    // One leaves (killed while idle): the chain that needs two waits its
    // queue time and gets 503; the function alone still runs on the other.
    a.kill().unwrap();
    a.wait().unwrap();
    wait_until(
        Duration::from_secs(10),
        || s.log(),
        || s.post("/chains/twice", "x").status() == 503,
    );
    let (status, out, _) = s.invoke("/functions/cat", body.clone());
    assert_eq!(status, 200, "{}", s.log());
    assert!(out == body, "output differs");

    // Replaced: the instance that joined the old definition is told to go.
    let put = s
        .client
        .put(format!("{}/functions/cat", s.admin))
        .json(&serde_json::json!({"joins": true}))
        .send()
        .unwrap();
    assert_eq!(put.status(), 200, "{}", s.log());
    let st = exited_within(&mut b, Duration::from_secs(10)).expect("b stays after the replace");
    assert!(st.success(), "{st:?}");
    // And a new one joins the new definition under the same token.
    let mut d = joining(&socket, &format!("{SECRET}/cat"), "joined-serve-d");
    wait_until(
        Duration::from_secs(20),
        || s.log(),
        || s.post("/functions/cat", "y").status() == 200,
    );
    d.kill().unwrap();
    d.wait().unwrap();
    assert_none_left("joined-serve-");
}

#[test]
fn a_function_that_joins_needs_a_join_secret_and_nothing_to_start() {
    let dir = tmpdir("joined-bad");
    for (text, needle) in [
        (
            "[[function]]\nname = \"cat\"\njoins = true\n",
            "join_secret_file",
        ),
        (
            "[[function]]\nname = \"cat\"\njoins = true\ncommand = \"cat\"\n",
            "command",
        ),
        (
            "join_secret_file = \"/nonexistent/secret\"\n[[function]]\nname = \"cat\"\njoins = true\n",
            "/nonexistent/secret",
        ),
    ] {
        let config = dir.join("bad.toml");
        std::fs::write(&config, text).unwrap();
        run_fails_within(
            Duration::from_secs(20),
            &["serve", "-c", arg(&config)],
            2,
            needle,
        );
    }
}
