//! Chains of processes through the built `faasin` binary: 2, 3 and 10
//! functions, 1 GiB with a checksum, stdio adapters, plain-pipe transport,
//! chain files and the JSON report.

mod common;
use common::*;

fn ret(report: &serde_json::Value, i: usize) -> &serde_json::Value {
    &report["functions"][i]["return_value"]
}

#[test]
fn two_functions_pass_stdin_to_stdout_and_report_every_field() {
    let input = bytes(300_000, 7);
    let (out, r) = run_reported(&tmpdir("two"), &["faasin cat", "faasin cat"], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == input, "output differs from input");
    assert_eq!(r["ok"], true);
    assert_eq!(r["transport"], "faasin");
    assert_eq!(r["error"], serde_json::Value::Null);
    assert_eq!(r["input_bytes"], 300_000);
    assert_eq!(r["output_bytes"], 300_000);
    let fs = r["functions"].as_array().unwrap();
    assert_eq!(fs.len(), 2);
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(f["name"], format!("faasin#{}", i + 1));
        assert_eq!(f["kind"], "process");
        assert_eq!(f["ok"], true);
        assert_eq!(f["exit_code"], 0);
        assert_eq!(f["signal"], serde_json::Value::Null);
        // The return value is the function's stdout, parsed as JSON.
        assert_eq!(f["return_value"], serde_json::json!({"bytes": 300_000}));
        assert_eq!(f["bytes_in"], 300_000);
        assert_eq!(f["bytes_out"], 300_000);
        let (s, b, e) = (
            f["start_s"].as_f64().unwrap(),
            f["first_byte_s"].as_f64().unwrap(),
            f["end_s"].as_f64().unwrap(),
        );
        assert!(0.0 <= s && s <= b && b <= e + 0.05, "{s} {b} {e}");
        assert!(e <= r["elapsed_s"].as_f64().unwrap());
    }
    let edges = r["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert_eq!(edges[0]["from"], "input");
    assert_eq!(edges[2]["to"], "output");
    assert_eq!(edges[1]["capacity"], 1 << 20);
    // The summary on stderr names each function.
    let err = stderr(&out);
    assert!(
        err.contains("faasin#1") && err.contains("faasin#2") && err.contains(": ok;"),
        "{err}"
    );
}

fn peer_chain(
    n_middle: usize,
    bytes: u64,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let dir = tmpdir(&format!("peer{n_middle}-{}", extra.len()));
    run_peer_chain(&dir, extra, n_middle, bytes)
}

#[test]
fn three_functions_checksum_matches_end_to_end() {
    let (out, r) = peer_chain(1, 5_000_000, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = ret(&r, 0).as_str().unwrap();
    assert!(written.starts_with("5000000 "), "{written}");
    assert_eq!(
        ret(&r, 2),
        ret(&r, 0),
        "reader saw other bytes than written"
    );
    assert_eq!(ret(&r, 1), &serde_json::json!({"bytes": 5_000_000}));
    assert_eq!(r["functions"][0]["bytes_out"], 5_000_000);
    assert_eq!(r["functions"][2]["bytes_in"], 5_000_000);
}

#[test]
fn ten_functions_checksum_matches_end_to_end() {
    let (out, r) = peer_chain(8, 3_000_000, &["--capacity", "65536"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["functions"].as_array().unwrap().len(), 10);
    assert_eq!(ret(&r, 9), ret(&r, 0));
    for i in 1..9 {
        assert_eq!(
            ret(&r, i),
            &serde_json::json!({"bytes": 3_000_000}),
            "function {i}"
        );
        assert_eq!(r["edges"][i]["capacity"], 65536);
    }
}

#[test]
fn one_gib_through_three_stages() {
    let gib = 1u64 << 30;
    let (out, r) = peer_chain(1, gib, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let w = ret(&r, 0).as_str().unwrap();
    assert!(w.starts_with(&format!("{gib} ")), "{w}");
    assert_eq!(ret(&r, 2), ret(&r, 0), "checksum differs after 1 GiB");
    assert_eq!(r["functions"][1]["bytes_in"], gib);
    eprintln!(
        "1 GiB through 3 stages in {:.2} s",
        r["elapsed_s"].as_f64().unwrap()
    );
}

#[test]
fn pipe_transport_runs_the_same_chain() {
    let (out, r) = peer_chain(1, 2_000_000, &["--transport", "pipe"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["transport"], "pipe");
    assert_eq!(ret(&r, 2), ret(&r, 0));
    // Between two functions over a plain pipe nothing can be measured.
    assert_eq!(r["functions"][0]["bytes_out"], serde_json::Value::Null);
}

#[test]
fn stdio_programs_python_and_shell_sit_between_native_functions() {
    // Rust (peer) -> coreutils cat (stdio) -> Python (stdio, sys.stdin.buffer)
    // -> faasin cat (native) -> Rust (peer).
    let py = "@stdio: python3 -c 'import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer, 1 << 16)'";
    let (out, r) = run_reported(
        &tmpdir("stdio"),
        &[
            "--stdio",
            "2",
            "peer write 4000000 9",
            "cat",
            py,
            "faasin cat",
            "peer read",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ret(&r, 4), ret(&r, 0));
    assert_eq!(r["functions"][1]["stdio"], true);
    assert_eq!(r["functions"][2]["stdio"], true);
    assert_eq!(r["functions"][3]["stdio"], false);
    // A stdio program's stdout is the stream, so it has no return value.
    assert_eq!(ret(&r, 1), &serde_json::Value::Null);
    assert_eq!(r["functions"][2]["bytes_in"], 4_000_000);
    assert_eq!(r["functions"][2]["bytes_out"], 4_000_000);
}

#[test]
fn input_and_output_files() {
    let dir = tmpdir("files");
    let (inp, outp) = (dir.join("in"), dir.join("out"));
    let data = bytes(1_234_567, 3);
    std::fs::write(&inp, &data).unwrap();
    let out = run(
        &[
            "run",
            "-q",
            "-i",
            arg(&inp),
            "-o",
            arg(&outp),
            "faasin cat",
            "@stdio: gzip -1",
            "@stdio: gzip -d",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&outp).unwrap() == data);
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).is_empty(),
        "-q prints nothing on success: {}",
        stderr(&out)
    );
}

#[test]
fn pipe_subcommand_is_quiet_and_streams() {
    let out = run(
        &["pipe", "faasin cat", "@stdio: tr a-z A-Z"],
        b"hello faasin\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"HELLO FAASIN\n");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    run_fails_with(&["pipe", "faasin cat"], 2, "exactly two commands");
}

#[test]
fn chain_file_with_env_argv_and_capacity() {
    let file = chain_file(
        "file",
        r#"
capacity = 8192

[[function]]
name = "produce"
command = "peer write $BYTES 5"
env = { BYTES = "777777" }
capacity = 4096

[[function]]
name = "copy"
command = ["faasin", "cat"]

[[function]]
name = "upper"
command = "tr a-f A-F"
stdio = true

[[function]]
name = "consume"
command = "peer read"
"#,
    );
    let (out, r) = run_file(&file);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<&str> = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["produce", "copy", "upper", "consume"]);
    assert_eq!(r["edges"][1]["capacity"], 4096);
    assert_eq!(r["edges"][2]["capacity"], 8192);
    assert_eq!(ret(&r, 1), &serde_json::json!({"bytes": 777_777}));
    assert_eq!(r["functions"][3]["bytes_in"], 777_777);
}
