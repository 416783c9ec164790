//! `faasin run --warm N`: functions started once serve N invocations. The
//! Redis case needs `redis-server` on PATH (cli/test.sh installs it).

mod common;
use common::*;
use std::time::Duration;

/// Input through two warm `faasin cat`s, `n` invocations; returns the
/// report after checking the output and every return value.
fn cats(transport: &str, n: usize, size: usize) -> serde_json::Value {
    let dir = tmpdir(&format!("warm-{transport}"));
    let (input, output) = (dir.join("in"), dir.join("out"));
    let data = bytes(size, 5);
    std::fs::write(&input, &data).unwrap();
    let warm = n.to_string();
    let (out, r) = run_reported(
        &dir,
        &[
            "--warm",
            &warm,
            "--transport",
            transport,
            "--capacity",
            "65536",
            "-i",
            arg(&input),
            "-o",
            arg(&output),
            "faasin cat",
            "faasin cat",
        ],
        b"",
    );
    assert!(out.status.success(), "{transport}: {}", stderr(&out));
    let got = std::fs::read(&output).unwrap();
    assert_eq!(got.len(), size * n, "{transport}: output length");
    for (k, chunk) in got.chunks(size).enumerate() {
        assert!(
            chunk == data,
            "{transport}: invocation {} output differs",
            k + 1
        );
    }
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["transport"], transport);
    let invs = r["invocations"].as_array().unwrap();
    assert_eq!(invs.len(), n);
    for inv in invs {
        for v in inv["return_values"].as_array().unwrap() {
            assert_eq!(v["bytes"], size as u64, "{inv}");
        }
        assert_eq!(inv["output_bytes"], size as u64);
        assert!(inv["elapsed_s"].as_f64().unwrap() > 0.0);
    }
    for f in r["functions"].as_array().unwrap() {
        assert_eq!(f["exit_code"], 0, "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    r
}

#[test]
fn warm_cats_over_rings_serve_every_invocation_bigger_than_the_ring() {
    cats("faasin", 4, 3 << 20);
}

#[test]
fn warm_cats_over_pipes() {
    cats("pipe", 3, 1 << 20);
}

#[test]
fn warm_cats_through_redis_one_function_after_the_other() {
    let r = cats("redis", 3, 1 << 20);
    // Each invocation stored the first cat's output and read it back.
    let ops = r["store"]["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 6, "{r}");
    for inv in r["invocations"].as_array().unwrap() {
        let f = inv["finished_s"].as_array().unwrap();
        assert!(f[0].as_f64() < f[1].as_f64(), "store and forward: {inv}");
    }
}

#[test]
fn warm_cats_through_files() {
    cats("file", 2, 1 << 20);
}

#[test]
fn an_empty_input_is_an_empty_invocation() {
    let (out, r) = run_reported(
        &tmpdir("warm-empty"),
        &["--warm", "2", "faasin cat"],
        b"ignored: warm runs read only --input",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(r["invocations"][1]["return_values"][0]["bytes"], 0, "{r}");
}

#[test]
fn a_one_shot_function_is_told_what_a_warm_function_does() {
    let e = run_fails_within(
        Duration::from_secs(20),
        &[
            "run",
            "--warm",
            "2",
            "faasin cat",
            "sh -c 'exec 3<&- 4>&-; exit 0'",
        ],
        1,
        "function 2 (sh) ended (exit 0)",
    );
    assert!(e.contains("loops over faasin::invocations()"), "{e}");
}

#[test]
fn a_function_killed_mid_invocation_fails_the_run_at_once_and_nothing_is_left() {
    let marker = format!("warmkill{}", std::process::id());
    let dir = tmpdir("warm-kill");
    let input = dir.join("in");
    std::fs::write(&input, bytes(64 << 20, 3)).unwrap();
    // The second function's shell stays; the warm cat under it is killed
    // once it has mapped its rings (while it streams, unless it was quick).
    let second = format!(
        "sh -c 'faasin cat & p=$!; until grep -q memfd /proc/$p/maps; do sleep 0.002; done; kill -9 $p; wait; sleep 30 # {marker}'"
    );
    let e = run_fails_within(
        Duration::from_secs(20),
        &[
            "run",
            "--warm",
            "3",
            "--grace",
            "1",
            "--capacity",
            "4096",
            "-i",
            arg(&input),
            "-o",
            "/dev/null",
            "faasin cat",
            &second,
        ],
        1,
        "function 2 (sh)",
    );
    // Killed mid-stream it broke off; killed between invocations its next
    // grant fails. Either way the run names it and stops.
    assert!(
        e.contains("broke off its invocation") || e.contains("cannot hand"),
        "{e}"
    );
    assert_none_left(&marker);
}

#[test]
fn a_function_that_never_asks_meets_the_timeout() {
    run_fails_within(
        Duration::from_secs(15),
        &[
            "run",
            "--warm",
            "2",
            "--timeout",
            "1",
            "faasin cat",
            "sleep 60",
        ],
        1,
        "timed out",
    );
}

#[test]
fn bad_warm_runs_are_usage_errors() {
    run_fails_with(
        &["run", "--warm", "0", "faasin cat"],
        2,
        "at least one invocation",
    );
    run_fails_with(
        &["run", "--warm", "2", "--stdio", "1", "cat"],
        2,
        "stdio program",
    );
}

#[test]
fn faasin_warm_without_a_socket_is_a_clear_error() {
    let out = faasin()
        .arg("cat")
        .env("FAASIN_WARM", "1")
        .env_remove("FAASIN_SOCKET")
        .output()
        .unwrap();
    assert_fails_with(&out, 1, "FAASIN_WARM is set but FAASIN_SOCKET is not");
}
