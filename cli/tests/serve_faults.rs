//! `faasin serve` when functions fail: a crash, a non-zero exit, a hang
//! past the timeout, a kill mid-stream, a client that goes away; the
//! invocation gets a clear error naming the function, the instance is
//! replaced, and nothing leaks. Then SIGTERM and SIGKILL of the service.

mod common;
use common::service::*;
use common::*;
use std::time::{Duration, Instant};

/// The instances (and programs) of a test, found by the marker on their
/// command lines.
fn pids_with(marker: &str) -> Vec<String> {
    processes_with(marker)
        .into_iter()
        .filter(|p| !p.contains("serve -c"))
        .collect()
}

/// The error an invocation answered with before any output.
fn failed(s: &Served, path: &str, body: &str, status: u16) -> serde_json::Value {
    let r = s.post(path, body.to_string());
    assert_eq!(r.status(), status, "{}", s.log());
    let id = r.headers()["faasin-invocation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let e: serde_json::Value = r.json().unwrap();
    assert_eq!(e["id"], id.as_str());
    e
}

#[test]
fn crashes_and_bad_exits_are_502_naming_the_function_and_instances_are_replaced() {
    let m = "serve-crash";
    let defs = [
        peer_fn("cat", &["cat"], m, "max_instances = 2"),
        peer_fn("crash", &["crash", "0"], m, ""),
        peer_fn("quits", &["exit", "0"], m, ""),
        function(
            "fails",
            &["sh", "-c", "cat >/dev/null; exit 7", m],
            "stdio = true",
        ),
        chain("crash", &["cat", "crash", "cat"], ""),
        chain("quits", &["quits"], ""),
        chain("fails", &["fails"], ""),
        chain("fine", &["cat"], ""),
    ]
    .concat();
    let s = Served::start("crash", &defs);
    for round in 0..3 {
        let e = failed(&s, "/chains/crash", "some input", 502);
        let msg = e["error"].as_str().unwrap();
        assert!(msg.contains("function 2 (crash)"), "round {round}: {msg}");
        let e = failed(&s, "/chains/quits", "x", 502);
        assert!(
            e["error"].as_str().unwrap().contains("function 1 (quits)")
                && e["error"].as_str().unwrap().contains("exit 3"),
            "{e}"
        );
        let e = failed(&s, "/chains/fails", "x", 502);
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("function 1 (fails): exit 7"),
            "{e}"
        );
        // The others are not disturbed.
        let ok = s.post("/chains/fine", "still fine");
        assert_eq!(ok.text().unwrap(), "still fine");
    }
    // Each failure cost its instance; the next invocation started a new one.
    let report = s.invoke("/chains/crash", "again").2;
    assert_eq!(report["functions"][1]["cold"], true, "{report}");
    assert_eq!(report["status"], 502);
}

#[test]
fn a_crash_in_the_middle_of_a_stream_is_an_error_either_way() {
    let defs = [
        peer_fn("cat", &["cat"], "serve-midcrash", "max_instances = 2"),
        peer_fn("crash", &["crash", "200000"], "serve-midcrash", ""),
        chain("mid", &["cat", "crash", "cat"], ""),
    ]
    .concat();
    let s = Served::start("midcrash", &defs);
    let body = bytes(4 << 20, 3);
    for round in 0..5 {
        // curl sends and reads at once, and says how a transfer ended.
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "--data-binary",
                "@-",
            ])
            .arg(format!("{}/chains/mid", s.base))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                let mut stdin = c.stdin.take().unwrap();
                let b = body.clone();
                let t = std::thread::spawn(move || {
                    let _ = std::io::Write::write_all(&mut stdin, &b);
                });
                let out = c.wait_with_output();
                let _ = t.join();
                out
            })
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        let (got, code) = text.rsplit_once('\n').unwrap();
        // Whether the first output bytes went out before the crash was
        // seen is a race: a 502 naming the function, or a response cut
        // off (curl fails: "transfer closed", or no reply at all when the
        // head had not left yet).
        if code == "502" {
            assert!(got.contains("function 2 (crash)"), "round {round}: {got}");
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "round {round}: {code} looks complete: {err}"
            );
        }
    }
    let log = s.log();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("chain/mid: 502"))
        .collect();
    assert_eq!(failed.len(), 5, "every invocation failed:\n{log}");
    assert!(
        failed.iter().all(|l| l.contains("function 2 (crash)")),
        "each failure names the crash:\n{log}"
    );
}

#[test]
fn a_hang_past_the_timeout_is_504_and_the_instance_goes() {
    let m = "serve-hang";
    let defs = [
        peer_fn("hang", &["hang"], m, "timeout = 1"),
        chain("hang", &["hang"], ""),
    ]
    .concat();
    let s = Served::start("hang", &defs);
    let t = Instant::now();
    let e = failed(&s, "/chains/hang", "x", 504);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert!(e["error"].as_str().unwrap().contains("timed out"), "{e}");
    let first = pids_with(m);
    failed(&s, "/chains/hang", "x", 504);
    // The hung instance was stopped, not reused.
    wait_until(
        Duration::from_secs(10),
        || format!("{:?}", pids_with(m)),
        || {
            let now = pids_with(m);
            now.len() <= 1 && now != first
        },
    );
}

#[test]
fn a_client_that_goes_away_cancels_its_invocation() {
    let m = "serve-gone";
    let defs = [peer_fn("cat", &["cat"], m, ""), chain("one", &["cat"], "")].concat();
    let s = Served::start("gone", &defs);
    // A raw client: send headers and part of a chunked body, then vanish.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::Write;
    write!(
        c,
        "POST /chains/one HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        || "no instance started".into(),
        || !pids_with(m).is_empty(),
    );
    let instance = pids_with(m);
    std::thread::sleep(Duration::from_millis(200));
    drop(c);
    // The invocation is cancelled: its function saw the end of its input,
    // finished, and serves the next invocation.
    let metrics = || {
        s.client
            .get(format!("{}/metrics", s.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    wait_until(Duration::from_secs(10), metrics, || {
        metrics().contains("code=\"499\"")
    });
    let (status, out, report) = s.invoke("/chains/one", "after");
    assert_eq!((status, out.as_slice()), (200, &b"after"[..]));
    assert_eq!(report["functions"][0]["cold"], false, "{report}");
    assert_eq!(pids_with(m), instance);
}

#[test]
fn hundreds_of_faulty_invocations_leak_nothing() {
    let m = "serve-leak";
    let defs = [
        peer_fn("cat", &["cat"], m, "max_instances = 2"),
        peer_fn("crash", &["crash", "0"], m, ""),
        peer_fn("quits", &["exit", "0"], m, ""),
        chain("crash", &["cat", "crash"], ""),
        chain("quits", &["quits", "cat"], ""),
        chain("fine", &["cat", "cat"], ""),
    ]
    .concat();
    let s = Served::start("leak", &defs);
    assert_eq!(s.invoke("/chains/fine", "warm up").0, 200);
    let cats = pids_with(m);
    assert_eq!(cats.len(), 2, "{cats:?}");
    let (fds_before, memfds_before) = s.fds();
    for k in 0..300 {
        let path = ["/chains/crash", "/chains/quits", "/chains/fine"][k % 3];
        let r = s.post(path, "x");
        assert_eq!(r.status(), if k % 3 == 2 { 200 } else { 502 }, "call {k}");
        let _ = r.bytes();
    }
    // Every faulty instance is gone; the two healthy ones are those of the
    // start, and the service holds about what it held then (ring memory is
    // kept per pair of instances, mappings of it up to a bound), not
    // something per invocation.
    wait_until(
        Duration::from_secs(15),
        || {
            format!(
                "{:?} {:?} (before: {fds_before}, {memfds_before})",
                pids_with(m),
                s.fds()
            )
        },
        || {
            let (fds, memfds) = s.fds();
            pids_with(m) == cats && fds <= fds_before + 8 && memfds <= memfds_before + 8
        },
    );
}

#[test]
fn sigterm_lets_invocations_in_flight_finish_then_stops_everything() {
    let m = "serve-term";
    let defs = [
        function("slow", &["sh", "-c", "sleep 1; cat", m], "stdio = true"),
        peer_fn("cat", &["cat"], m, ""),
        chain("slow", &["cat", "slow"], ""),
    ]
    .concat();
    let mut s = Served::start("term", &defs);
    assert_eq!(s.post("/chains/slow", "warm").status(), 200);
    let url = format!("{}/chains/slow", s.base);
    let client = s.client.clone();
    let inflight = std::thread::spawn(move || {
        let r = client.post(url).body("in flight").send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = s.stop(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{status:?}: {}", s.log());
    assert_eq!(inflight.join().unwrap(), (200, "in flight".to_string()));
    assert_none_left(m);
}

#[test]
fn sigkill_of_the_service_leaves_no_instance() {
    let m = "serve-kill";
    let defs = [
        peer_fn("cat", &["cat"], m, "max_instances = 2"),
        function("up", &["sh", "-c", "tr a-z A-Z", m], "stdio = true"),
        chain("two", &["cat", "up", "cat"], ""),
    ]
    .concat();
    let mut s = Served::start("kill", &defs);
    assert_eq!(s.post("/chains/two", "abc").text().unwrap(), "ABC");
    assert!(!pids_with(m).is_empty());
    s.stop(libc::SIGKILL, Duration::from_secs(5));
    wait_until(
        Duration::from_secs(10),
        || format!("{:?}", pids_with(m)),
        || pids_with(m).is_empty(),
    );
}

#[test]
fn a_function_that_cannot_start_is_502_every_time() {
    let defs = [
        function("missing", &["/nonexistent/program"], "max_instances = 2"),
        chain("twice", &["missing", "missing"], ""),
    ]
    .concat();
    let s = Served::start("nostart", &defs);
    for round in 0..3 {
        // Not 503 after the queue's wait: a failed start gives back the
        // places it had taken.
        let e = failed(&s, "/chains/twice", "x", 502);
        let msg = e["error"].as_str().unwrap();
        assert!(
            msg.contains("could not start") && msg.contains("missing"),
            "round {round}: {msg}"
        );
    }
}
