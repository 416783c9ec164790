//! Faults: each ends with a clear message naming the function, a non-zero
//! exit status, no process left behind and no hang.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn report_of(args: &[&str], tag: &str) -> (std::process::Output, serde_json::Value) {
    let dir = tmpdir(tag);
    let report = dir.join("r.json");
    let mut a = vec!["run", "--report", report.to_str().unwrap()];
    a.extend_from_slice(args);
    let out = run(&a, b"");
    (out, read_report(&report))
}

#[test]
fn a_crashing_function_is_named_with_its_signal() {
    let (out, r) = report_of(
        &["peer write 100000000", "kill -SEGV $$", "peer read"],
        "crash",
    );
    assert_eq!(out.status.code(), Some(1));
    let f = &r["functions"][1];
    assert_eq!(f["signal"], libc::SIGSEGV);
    assert_eq!(f["ok"], false);
    let err = stderr(&out);
    assert!(
        err.contains("function 2 \"kill\": killed by signal 11 (SIGSEGV)"),
        "{err}"
    );
    // Downstream saw EOF and finished; upstream got EPIPE.
    assert_eq!(r["functions"][2]["exit_code"], 0, "{err}");
    assert_eq!(r["functions"][0]["exit_code"], 1, "{err}");
    assert!(err.contains("broken pipe"), "{err}");
}

#[test]
fn a_function_that_exits_early_gives_upstream_epipe() {
    let (out, r) = report_of(&["peer write 100000000", "exit 3"], "early");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["functions"][1]["exit_code"], 3);
    assert_eq!(r["functions"][0]["exit_code"], 1);
    assert!(
        stderr(&out).contains("function 2 \"exit\": exit 3"),
        "{}",
        stderr(&out)
    );
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
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["functions"][1]["signal"], libc::SIGKILL);
    assert!(stderr(&out).contains("SIGKILL"));
}

#[test]
fn a_command_that_does_not_exist() {
    let (out, r) = report_of(
        &["peer write 1000", "no-such-command-xyz", "peer read"],
        "nocmd",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["functions"][1]["exit_code"], 127);
    let err = stderr(&out);
    assert!(
        err.contains("function 2 \"no-such-command-xyz\": exit 127 (command not found)"),
        "{err}"
    );

    // In argv form there is no shell: the spawn itself fails.
    let dir = tmpdir("noargv");
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "[[function]]\ncommand = \"peer write 10\"\n[[function]]\ncommand = [\"/no/such/binary\"]\n",
    )
    .unwrap();
    let out = run(&["run", "-f", file.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("function 2 \"binary\": could not start \"/no/such/binary\""),
        "{err}"
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
    assert!(processes_with("sleep 971").is_empty());
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
    assert!(processes_with("sleep 972").is_empty());
}

#[test]
fn timeout_stops_a_chain_that_never_ends() {
    let (out, r) = report_of(&["--timeout", "0.5", "sleep 973", "faasin cat"], "timeout");
    assert_eq!(out.status.code(), Some(1));
    assert!(r["error"].as_str().unwrap().contains("timed out"));
    assert!(processes_with("sleep 973").is_empty());
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
        let out = run(&["run", "-f", file.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains(want), "want {want:?} in {err}");
    }
    let out = run(&["run", "-f", "/no/such/chain.toml"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read chain file /no/such/chain.toml"));
}

#[test]
fn a_wrong_token_is_refused_and_the_right_one_still_served() {
    // The producer takes its ends through the handoff socket, as a container
    // would; first an impostor with a wrong token knocks.
    let dir = tmpdir("token");
    let file = dir.join("c.toml");
    let report = dir.join("r.json");
    std::fs::write(
        &file,
        r#"
[[function]]
name = "producer"
handoff = true
command = "FAASIN_TOKEN=0000 peer write 10 || echo refused >&2; exec peer write 300000 8"

[[function]]
name = "consumer"
command = "peer read"
"#,
    )
    .unwrap();
    let out = run_file(&file, &report);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = read_report(&report);
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
        let mut child = faasin()
            .args([
                "run",
                "peer write 100",
                &marker,
                "trap '' TERM; sleep 979; sleep 1",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal only once the functions run (the runner's handlers are in
        // place before the first spawn).
        let t = Instant::now();
        while processes_with("sleep 979").len() < 2 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "functions did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let t = Instant::now();
        let out = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "the runner did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(out.code(), Some(code));
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(err.contains("interrupted by"), "{err}");
        assert!(
            processes_with(&marker).is_empty(),
            "{:?}",
            processes_with(&marker)
        );
        assert!(processes_with("sleep 979").is_empty());
    }
}

#[test]
fn functions_die_with_a_runner_killed_by_sigkill() {
    let mut child = faasin()
        .args(["run", "sleep 991", "sleep 992"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while processes_with("sleep 992").len() < 2 {
        // the runner's own command line and the function
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "functions did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    while !processes_with("sleep 99").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{:?}",
            processes_with("sleep 99")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
