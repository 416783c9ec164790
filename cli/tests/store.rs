//! `--transport redis` and `--transport file`: the same functions, each
//! one's whole output stored and read back by the next, which starts only
//! when the previous one has ended. Needs `redis-server` on PATH (cli/test.sh
//! installs it); the tests install nothing.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ret(report: &serde_json::Value, i: usize) -> String {
    report["functions"][i]["return_value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Checks what every store-and-forward chain must show: success, one
/// function at a time, and the first input byte of each after the previous
/// one ended.
fn check_staged(r: &serde_json::Value, transport: &str, n: usize) {
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["transport"], transport);
    assert_eq!(r["store"]["kind"], transport);
    let fs = r["functions"].as_array().unwrap();
    assert_eq!(fs.len(), n);
    for w in fs.windows(2) {
        let end = w[0]["end_s"].as_f64().unwrap();
        let start = w[1]["start_s"].as_f64().unwrap();
        let first_in = w[1]["first_in_s"].as_f64().unwrap();
        assert!(
            end <= start && start <= first_in,
            "not one after the other: end {end}, next start {start}, next first byte {first_in}"
        );
    }
    for f in fs {
        assert!(f["max_rss_bytes"].as_u64().unwrap() > 0, "{f}");
    }
    assert!(r["runner_max_rss_bytes"].as_u64().unwrap() > 0);
}

fn peer_chain(transport: &str, mid: usize, size: usize) -> serde_json::Value {
    let dir = tmpdir(&format!("store-{transport}-{mid}"));
    let (out, r) = run_peer_chain(&dir, &["--transport", transport], mid, size as u64);
    assert!(out.status.success(), "{}", stderr(&out));
    check_staged(&r, transport, mid + 2);
    let (w, rd) = (ret(&r, 0), ret(&r, mid + 1));
    assert!(w.starts_with(&format!("{size} ")), "{w}");
    assert_eq!(w, rd, "checksums differ");
    for e in r["edges"].as_array().unwrap()[1..=mid + 1].iter() {
        assert_eq!(e["written"], size as u64, "{e}");
        assert_eq!(e["consumed"], size as u64, "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    r
}

#[test]
fn redis_two_stages_checksum() {
    let r = peer_chain("redis", 0, 3_000_000);
    assert_eq!(r["store"]["started_by_runner"], true);
    assert!(r["store"]["server_max_rss_bytes"].as_u64().unwrap() > 3_000_000);
}

#[test]
fn redis_three_stages_checksum() {
    peer_chain("redis", 1, 5_000_000);
}

#[test]
fn file_two_stages_checksum_and_nothing_left_on_tmpfs() {
    let r = peer_chain("file", 0, 3_000_000);
    let dir = r["store"]["dir"].as_str().unwrap();
    assert!(dir.contains("faasin-"), "{dir}");
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
}

#[test]
fn file_three_stages_checksum() {
    peer_chain("file", 1, 5_000_000);
}

#[test]
fn stdin_to_stdout_through_both_stores_with_a_stdio_function() {
    let input = bytes(700_000, 3);
    for t in ["redis", "file"] {
        let dir = tmpdir(&format!("store-stdio-{t}"));
        let out = run(
            &[
                "run",
                "-q",
                "--transport",
                t,
                "--store-dir",
                arg(&dir),
                "faasin cat",
                "@stdio: cat",
                "faasin cat",
            ],
            &input,
        );
        assert!(out.status.success(), "{t}: {}", stderr(&out));
        assert!(out.stdout == input, "{t}: output differs from input");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{t}: files left in --store-dir");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_failing_function_stops_the_chain_and_later_ones_never_start() {
    for t in ["redis", "file"] {
        let dir = tmpdir(&format!("store-fail-{t}"));
        let (out, r) = run_reported(
            &dir,
            &["--transport", t, "peer write 1000", "exit 3", "peer read"],
            b"",
        );
        assert_fails_with(&out, 1, "function 2 \"exit\": exit 3");
        assert_eq!(r["functions"][2]["start_s"], serde_json::Value::Null);
        let notes = r["functions"][2]["notes"].to_string();
        assert!(notes.contains("not started"), "{notes}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn missing_redis_server_is_a_clear_setup_error() {
    // No `timeout` wrapper: it would not be found on this PATH either. The
    // runner fails before it starts anything.
    let out = Command::new(faasin_bin())
        .args(["run", "--transport", "redis", "faasin cat", "faasin cat"])
        .env("PATH", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_fails_with(&out, 2, "redis-server is not installed");
}

#[test]
fn unreachable_redis_is_a_clear_setup_error() {
    // Port 1 on loopback: nothing listens there.
    run_fails_with(
        &[
            "run",
            "--transport",
            "redis",
            "--redis",
            "127.0.0.1:1",
            "faasin cat",
        ],
        2,
        "cannot reach Redis at 127.0.0.1:1",
    );
}

/// A Redis of our own, with a small payload cap, stopped when dropped.
struct SmallRedis(std::process::Child, String);

impl SmallRedis {
    fn start(max_bulk: &str) -> SmallRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--proto-max-bulk-len", max_bulk])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (cli/test.sh installs it)");
        let addr = format!("127.0.0.1:{port}");
        wait_until(
            Duration::from_secs(10),
            || "redis-server did not start".into(),
            || std::net::TcpStream::connect(&addr).is_ok(),
        );
        SmallRedis(child, addr)
    }
}

impl Drop for SmallRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_payload_over_the_redis_cap_fails_the_chain_and_says_why() {
    let redis = SmallRedis::start("1mb");
    let dir = tmpdir("store-cap");
    let (out, r) = run_reported(
        &dir,
        &[
            "--transport",
            "redis",
            "--redis",
            &redis.1,
            "peer write 2000000",
            "peer read",
        ],
        b"",
    );
    assert_fails_with(&out, 1, "function 1 \"peer#1\": storing its output failed");
    assert_eq!(r["ok"], false);
    // The function itself did its job; the store refused the result.
    assert_eq!(r["functions"][0]["ok"], true);
    assert_eq!(r["functions"][1]["start_s"], serde_json::Value::Null);
    assert_eq!(r["store"]["started_by_runner"], false);
    // Under the cap, the same Redis works.
    let out = run(
        &[
            "run",
            "-q",
            "--transport",
            "redis",
            "--redis",
            &redis.1,
            "peer write 500000",
            "peer read",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timeout_stops_a_hung_function_under_a_store() {
    run_fails_within(
        Duration::from_secs(10),
        &[
            "run",
            "--transport",
            "file",
            "--timeout",
            "1",
            "peer write 10",
            "sleep 100",
            "peer read",
        ],
        1,
        "timed out",
    );
}
