//! `--transport redis` and `--transport file`: the same functions, each
//! one's whole output stored and read back by the next, which starts only
//! when the previous one has ended. Needs `redis-server` on PATH (cli/test.sh
//! installs it); the tests install nothing.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let report = dir.join("r.json");
    let write = format!("peer write {size} 11");
    let mut args = vec![
        "run",
        "--transport",
        transport,
        "--report",
        report.to_str().unwrap(),
        write.as_str(),
    ];
    args.extend(std::iter::repeat("faasin cat").take(mid));
    args.push("peer read");
    let out = run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let r = read_report(&report);
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
                dir.to_str().unwrap(),
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
        let report = dir.join("r.json");
        let out = run(
            &[
                "run",
                "--transport",
                t,
                "--report",
                report.to_str().unwrap(),
                "peer write 1000",
                "exit 3",
                "peer read",
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(1), "{t}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("function 2 \"exit\": exit 3"),
            "{}",
            stderr(&out)
        );
        let r = read_report(&report);
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
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("redis-server is not installed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_redis_is_a_clear_setup_error() {
    // Port 1 on loopback: nothing listens there.
    let out = run(
        &[
            "run",
            "--transport",
            "redis",
            "--redis",
            "127.0.0.1:1",
            "faasin cat",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach Redis at 127.0.0.1:1"),
        "{}",
        stderr(&out)
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
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
    let report = dir.join("r.json");
    let out = run(
        &[
            "run",
            "--transport",
            "redis",
            "--redis",
            &redis.1,
            "--report",
            report.to_str().unwrap(),
            "peer write 2000000",
            "peer read",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("function 1 \"peer#1\": storing its output failed"),
        "{err}"
    );
    let r = read_report(&report);
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
    let t0 = Instant::now();
    let out = run(
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
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(t0.elapsed() < Duration::from_secs(10));
}
