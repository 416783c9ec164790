//! Chains with real Docker containers. They need a running Docker daemon and
//! the `faasin-tools` image (cli/images/build.sh); cli/test.sh installs and
//! starts dockerd, builds the image and runs these with `--ignored`, and
//! fails if it cannot.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn containers_of_faasin() -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "name=faasin-",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    assert!(out.status.success(), "docker ps failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The containers this report's chain ran are all gone.
fn assert_removed(report: &serde_json::Value) {
    let left = containers_of_faasin();
    for f in report["functions"].as_array().unwrap() {
        if let Some(name) = f["container"].as_str() {
            assert!(!left.iter().any(|l| l == name), "{name} left behind");
        }
    }
}

/// A chain file's `[[function]]` table for a container of the faasin-tools
/// image running `argv`.
fn container(name: &str, argv: &[&str]) -> String {
    format!("[[function]]\nname = {name:?}\nimage = \"faasin-tools\"\ncommand = {argv:?}\n")
}

/// A chain file's `[[function]]` table for a process running the shell
/// command `command`.
fn process(name: &str, command: &str) -> String {
    format!("[[function]]\nname = {name:?}\ncommand = {command:?}\n")
}

/// A warm container feeding a process, both `faasin cat`: the container
/// loops over faasin::invocations(), taking each invocation's ends from the
/// bind-mounted handoff socket.
fn warm_container_then_process() -> String {
    container("docker-cat", &["/bin/faasin", "cat"]) + &process("process-cat", "faasin cat")
}

/// Waits until `n` or more containers of faasin exist (the docker tests run
/// one at a time).
fn wait_for_containers(n: usize) {
    wait_until(
        Duration::from_secs(30),
        || format!("{n} containers did not start"),
        || containers_of_faasin().len() >= n,
    );
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_chain_of_three_containers_streams_through_faasin() {
    let file = chain_file(
        "dk3",
        &[
            container("produce", &["/bin/peer", "write", "20000000", "3"]),
            container("copy", &["/bin/faasin", "cat"]),
            container("consume", &["/bin/peer", "read"]),
        ]
        .concat(),
    );
    let (out, r) = run_file(&file);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = r["functions"].as_array().unwrap();
    assert!(f
        .iter()
        .all(|f| f["kind"] == "container" && f["handoff"] == true));
    // Each container took its ends from the handoff socket.
    assert!(f.iter().all(|f| f["handoff_s"].as_f64().is_some()));
    assert!(f[0]["return_value"]
        .as_str()
        .unwrap()
        .starts_with("20000000 "));
    assert_eq!(f[2]["return_value"], f[0]["return_value"]);
    assert_eq!(
        f[1]["return_value"],
        serde_json::json!({"bytes": 20_000_000})
    );
    assert_eq!(f[1]["bytes_in"], 20_000_000);
    assert_removed(&r);
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_chain_mixing_a_process_a_container_and_python() {
    // Rust process (inherited fds) -> Rust in a container (handoff socket)
    // -> Python process (stdio adapter: plain sys.stdin/stdout) -> shell
    // process `faasin cat` (inherited fds) -> Rust in a container.
    let python = "python3 -c 'import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer, 1 << 16)'";
    let file = chain_file(
        "mixed",
        &[
            process("produce", "peer write 30000000 5"),
            container("docker-cat", &["/bin/faasin", "cat"]),
            process("python", python) + "stdio = true\n",
            process("process-cat", "faasin cat"),
            container("docker-read", &["/bin/peer", "read"]),
        ]
        .concat(),
    );
    let (out, r) = run_file(&file);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = r["functions"].as_array().unwrap();
    let kinds: Vec<&str> = f.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["process", "container", "process", "process", "container"]
    );
    assert_eq!(f[4]["return_value"], f[0]["return_value"]);
    assert_eq!(f[2]["bytes_in"], 30_000_000);
    assert_removed(&r);
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_missing_image_is_refused_before_anything_runs() {
    let file = chain_file(
        "noimage",
        "[[function]]\ncommand = \"peer write 10\"\n[[function]]\nname = \"ghost\"\nimage = \"faasin-no-such-image\"\ncommand = [\"/x\"]\n",
    );
    run_fails_within(
        Duration::from_secs(20),
        &["run", "-f", arg(&file)],
        2,
        "function \"ghost\": image \"faasin-no-such-image\" does not exist locally",
    );
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_failing_container_is_named_and_removed() {
    let file = chain_file(
        "dkfail",
        &[
            process("produce", "peer write 100000000"),
            container("broken", &["/bin/no-such-binary"]),
            process("consume", "peer read"),
        ]
        .concat(),
    );
    let (out, r) = run_file(&file);
    assert_fails_with(&out, 1, "function 2 \"broken\"");
    let broken = &r["functions"][1];
    assert_eq!(broken["ok"], false);
    assert!(broken["exit_code"].as_i64().unwrap() >= 125, "{broken}");
    let notes = broken["notes"].to_string();
    assert!(notes.contains("without taking its ends"), "{notes}");
    // Its neighbours were not left waiting: EOF downstream, EPIPE upstream.
    assert_eq!(r["functions"][2]["exit_code"], 0);
    assert_eq!(r["functions"][0]["exit_code"], 1);
    assert_removed(&r);
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn ctrl_c_stops_and_removes_every_container() {
    let file = chain_file(
        "dkint",
        &(container("waits-for-input", &["/bin/faasin", "cat"])
            + &container("reader", &["/bin/peer", "read"])),
    );
    // stdin stays open and silent: the chain would run forever.
    let report = file.with_file_name("r.json");
    let mut child = spawn(&["run", "-f", arg(&file), "--report", arg(&report)]);
    wait_for_containers(2);
    let (status, err) = interrupt(&mut child, libc::SIGINT, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    assert!(err.contains("interrupted by signal 2 (SIGINT)"), "{err}");
    let r = read_report(&report);
    assert_eq!(r["interrupted_by"], libc::SIGINT);
    let names: Vec<_> = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["container"].clone())
        .collect();
    assert!(names
        .iter()
        .all(|n| n.as_str().is_some_and(|n| n.starts_with("faasin-"))));
    assert_removed(&r);
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn the_readme_example_chains_run() {
    for (name, n) in [("containers.toml", 3), ("mixed.toml", 4)] {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let (out, r) = run_reported(&tmpdir(name), &["-f", arg(&file)], b"");
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let f = r["functions"].as_array().unwrap();
        assert_eq!(f.len(), n);
        assert_eq!(f[n - 1]["return_value"], f[0]["return_value"], "{name}");
        assert_removed(&r);
    }
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn containers_are_removed_even_when_the_runner_gets_sigkill() {
    let file = chain_file("dkkill", &container("cat", &["/bin/faasin", "cat"]));
    let mut child = spawn(&["run", "-f", arg(&file)]);
    wait_for_containers(1);
    child.kill().unwrap(); // SIGKILL: the runner cleans up nothing itself
    child.wait().unwrap();
    wait_until(
        Duration::from_secs(30),
        || format!("{:?} left behind", containers_of_faasin()),
        || containers_of_faasin().is_empty(),
    );
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_warm_container_serves_every_invocation_and_is_gone_after() {
    let file = chain_file("warm-container", &warm_container_then_process());
    // A warm run feeds the --input file to every invocation.
    let input = bytes(3_000_000, 7);
    let input_file = file.with_file_name("input.bin");
    std::fs::write(&input_file, &input).unwrap();
    let (out, r) = run_reported(
        file.parent().unwrap(),
        &["--warm", "3", "-i", arg(&input_file), "-f", arg(&file)],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Every invocation's output, in order.
    assert_eq!(out.stdout.len(), 3 * input.len());
    assert!(out.stdout.chunks(input.len()).all(|c| c == input));
    assert_eq!(r["invocations"].as_array().unwrap().len(), 3);
    for inv in r["invocations"].as_array().unwrap() {
        for v in inv["return_values"].as_array().unwrap() {
            assert_eq!(v["bytes"], 3_000_000, "{inv}");
        }
    }
    let f = r["functions"].as_array().unwrap();
    assert!(f[0]["container"].as_str().unwrap().starts_with("faasin-"));
    assert!(f[1]["container"].is_null());
    assert_eq!(f[0]["exit_code"], 0);
    assert_removed(&r);
}

#[test]
#[ignore = "needs a Docker daemon and the faasin-tools image; cli/test.sh runs it"]
fn a_warm_run_stopped_by_its_timeout_leaves_no_container() {
    // 1000 invocations of 64 MiB cannot finish within the 1 s timeout, so
    // it most likely hits the warm container in the middle of an
    // invocation, where it is not waiting for an END: the runner has to
    // stop it (docker rm -f of a container still running, then SIGTERM to
    // its `docker run` client, which passes signals on). Either alone
    // suffices here: the test checks that nothing is left, not which did it.
    let file = chain_file("warm-container-timeout", &warm_container_then_process());
    let input_file = file.with_file_name("input.bin");
    std::fs::write(&input_file, bytes(64 << 20, 3)).unwrap();
    let output = file.with_file_name("output.bin");
    let start = Instant::now();
    let (out, r) = run_reported(
        file.parent().unwrap(),
        &[
            "--warm",
            "1000",
            "--timeout",
            "1",
            "-i",
            arg(&input_file),
            "-o",
            arg(&output),
            "-f",
            arg(&file),
        ],
        b"",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    assert!(r["functions"][0]["container"].is_string());
    assert_removed(&r);
    // Its output can reach a GiB.
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}
