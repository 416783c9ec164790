//! Faults: each ends with a clear message naming the function, a non-zero
//! exit status, no process left behind and no hang.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn report_of(args: &[&str], tag: &str) -> (std::process::Output, serde_json::Value) {
    run_reported(&tmpdir(tag), args, b"")
}

#[test]
fn a_crashing_function_is_named_with_its_signal() {
    let (out, r) = report_of(
        &["peer write 100000000", "kill -SEGV $$", "peer read"],
        "crash",
    );
    let err = assert_fails_with(
        &out,
        1,
        "function 2 \"kill\": killed by signal 11 (SIGSEGV)",
    );
    let f = &r["functions"][1];
    assert_eq!(f["signal"], libc::SIGSEGV);
    assert_eq!(f["ok"], false);
    // Downstream saw EOF and finished; upstream got EPIPE.
    assert_eq!(r["functions"][2]["exit_code"], 0, "{err}");
    assert_eq!(r["functions"][0]["exit_code"], 1, "{err}");
    assert!(err.contains("broken pipe"), "{err}");
}

#[test]
fn a_function_that_exits_early_gives_upstream_epipe() {
    let (out, r) = report_of(&["peer write 100000000", "exit 3"], "early");
    assert_fails_with(&out, 1, "function 2 \"exit\": exit 3");
    assert_eq!(r["functions"][1]["exit_code"], 3);
    assert_eq!(r["functions"][0]["exit_code"], 1);
}

#[test]
fn a_function_that_never_reads_its_input() {
    let (out, r) = report_of(&["peer write 100000000", "sleep 0.3"], "noread");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["functions"][1]["exit_code"], 0);
    assert_eq!(r["functions"][1]["bytes_in"], 0);
    let notes = r["functions"][1]["notes"].to_string();
    assert!(notes.contains("of its input unread"), "{notes}");
    assert!(r["error"].as_str().unwrap().contains("function 1 \"peer\""));
}

#[test]
fn a_killed_function() {
    let (out, r) = report_of(&["peer write 1000", "kill -KILL $$", "peer read"], "killed");
    assert_fails_with(&out, 1, "SIGKILL");
    assert_eq!(r["functions"][1]["signal"], libc::SIGKILL);
}

#[test]
fn a_command_that_does_not_exist() {
    let (out, r) = report_of(
        &["peer write 1000", "no-such-command-xyz", "peer read"],
        "nocmd",
    );
    assert_fails_with(
        &out,
        1,
        "function 2 \"no-such-command-xyz\": exit 127 (command not found)",
    );
    assert_eq!(r["functions"][1]["exit_code"], 127);

    // In argv form there is no shell: the spawn itself fails.
    let file = chain_file(
        "noargv",
        "[[function]]\ncommand = \"peer write 10\"\n[[function]]\ncommand = [\"/no/such/binary\"]\n",
    );
    run_fails_with(
        &["run", "-f", arg(&file)],
        1,
        "function 2 \"binary\": could not start \"/no/such/binary\"",
    );
}

#[test]
fn a_hung_function_is_stopped_after_the_grace_period() {
    let t = Instant::now();
    let (out, r) = report_of(&["--grace", "1", "sleep 971", "exit 4"], "hung");
    assert_eq!(out.status.code(), Some(1));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let f = &r["functions"][0];
    assert_eq!(f["killed_by_runner"], true);
    assert_eq!(f["signal"], libc::SIGTERM);
    assert_none_left("sleep 971");
    // A function that ignores SIGTERM gets SIGKILL.
    let (out, r) = report_of(
        &[
            "--grace",
            "0.2",
            "trap '' TERM; sleep 972; sleep 1",
            "exit 4",
        ],
        "hung2",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["functions"][0]["signal"], libc::SIGKILL);
    assert_none_left("sleep 972");
}

#[test]
fn timeout_stops_a_chain_that_never_ends() {
    let (out, r) = report_of(&["--timeout", "0.5", "sleep 973", "faasin cat"], "timeout");
    assert_eq!(out.status.code(), Some(1));
    assert!(r["error"].as_str().unwrap().contains("timed out"));
    assert_none_left("sleep 973");
}

#[test]
fn malformed_chain_files_name_the_file_and_line() {
    let dir = tmpdir("badfile");
    let file = dir.join("bad.toml");
    let cases = [
        ("[[function]]\ncommand = \"a\"\n[[function]\n", ":3:"),
        (
            "[[function]]\nname = \"x\"\n\n[[function]]\ncommand = \"a\"\nimage = 5\n",
            ":6:",
        ),
        (
            "[[function]]\ncommand = \"a\"\n\n[[function]]\nname = \"b\"\n",
            ":4: function 2: no `command`",
        ),
        (
            "[[function]]\ncommand = \"a\"\ncapacity = 1000\n",
            "power of two",
        ),
        ("", "no function"),
    ];
    for (text, want) in cases {
        std::fs::write(&file, text).unwrap();
        let err = run_fails_with(&["run", "-f", arg(&file)], 2, want);
        assert!(err.contains(arg(&file)), "{text}: {err}");
    }
    run_fails_with(
        &["run", "-f", "/no/such/chain.toml"],
        2,
        "cannot read chain file /no/such/chain.toml",
    );
}

#[test]
fn a_wrong_token_is_refused_and_the_right_one_still_served() {
    // The producer takes its ends through the handoff socket, as a container
    // would; first an impostor with a wrong token knocks.
    let file = chain_file(
        "token",
        r#"
[[function]]
name = "producer"
handoff = true
command = "FAASIN_TOKEN=0000 peer write 10 || echo refused >&2; exec peer write 300000 8"

[[function]]
name = "consumer"
command = "peer read"
"#,
    );
    let (out, r) = run_file(&file);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["refused_handoffs"], 1);
    let err = stderr(&out);
    assert!(
        err.contains("refused a handoff request: unknown or already used token"),
        "{err}"
    );
    assert!(
        err.contains("refused the handoff"),
        "the impostor is told: {err}"
    );
    assert_eq!(
        r["functions"][1]["return_value"],
        r["functions"][0]["return_value"]
    );
    assert!(r["functions"][0]["handoff_s"].as_f64().is_some());
}

#[test]
fn sigint_and_sigterm_stop_everything() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let marker = format!("sleep 98{}", sig);
        let mut child = spawn(&[
            "run",
            "peer write 100",
            &marker,
            "trap '' TERM; sleep 979; sleep 1",
        ]);
        // Signal only once the functions run (the runner's handlers are in
        // place before the first spawn).
        wait_until(
            Duration::from_secs(10),
            || "functions did not start".into(),
            || processes_with("sleep 979").len() >= 2,
        );
        let (out, err) = interrupt(&mut child, sig, Duration::from_secs(15));
        assert_eq!(out.code(), Some(code));
        assert!(err.contains("interrupted by"), "{err}");
        assert_none_left(&marker);
        assert_none_left("sleep 979");
    }
}

#[test]
fn functions_die_with_a_runner_killed_by_sigkill() {
    let mut child = spawn(&["run", "sleep 991", "sleep 992"]);
    // The runner's own command line and the function.
    wait_until(
        Duration::from_secs(10),
        || "functions did not start".into(),
        || processes_with("sleep 992").len() >= 2,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(
        Duration::from_secs(5),
        || format!("{:?}", processes_with("sleep 99")),
        || processes_with("sleep 99").is_empty(),
    );
}

#[test]
fn progress_lines_are_drawn_only_on_a_terminal() {
    // `script` gives the runner a pseudo-terminal as stderr.
    let cmd = format!(
        "{} run 'peer write 50000000' 'sh -c \"sleep 0.5; exec faasin cat\"' 'peer read' </dev/null",
        faasin_bin().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PATH", path_env())
        .output()
        .expect("script(1) from util-linux");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\x1b[K") && text.contains("running"),
        "{text}"
    );
    // Not a terminal: no progress lines.
    let plain = run(
        &[
            "run",
            "peer write 50000000",
            "sh -c 'sleep 0.5; exec faasin cat'",
            "peer read",
        ],
        b"",
    );
    assert!(plain.status.success());
    assert!(!stderr(&plain).contains("running"), "{}", stderr(&plain));
}
