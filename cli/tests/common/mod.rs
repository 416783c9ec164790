//! Helpers for running the built `faasin` binary in tests.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn faasin_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faasin"))
}

/// The core crate's `peer` example, built next to the binary under test
/// (`cargo build --release -p faasin --example peer`; cli/test.sh does it).
pub fn peer_bin() -> PathBuf {
    let p = faasin_bin()
        .parent()
        .expect("target dir")
        .join("examples/peer");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p faasin --example peer` in the same profile",
        p.display()
    );
    p
}

/// PATH with `faasin` and `peer` first, so chains can name them.
pub fn path_env() -> String {
    let bins = [
        faasin_bin().parent().unwrap().to_path_buf(),
        peer_bin().parent().unwrap().to_path_buf(),
    ];
    let mut p: Vec<String> = bins.iter().map(|b| b.display().to_string()).collect();
    p.push(std::env::var("PATH").unwrap_or_default());
    p.join(":")
}

pub fn faasin() -> Command {
    let mut c = Command::new(faasin_bin());
    c.env("PATH", path_env());
    c
}

/// Runs `faasin ARGS` with `stdin`, under a hard time limit so that a hang
/// is a test failure, not a stuck CI.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", "120"])
        .arg(faasin_bin())
        .args(args)
        .env("PATH", path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn faasin");
    let mut w = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait faasin");
    let _ = feeder.join();
    assert_ne!(
        out.status.code(),
        None,
        "faasin was killed (hang?); stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the chain file `file` (`faasin run -f FILE --report REPORT`, empty
/// stdin); the caller checks the status, then reads the report.
pub fn run_file(file: &Path, report: &Path) -> Output {
    run(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        b"",
    )
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faasin-cli-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn read_report(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).expect("report written");
    serde_json::from_str(&text).expect("report is JSON")
}

/// Pseudo-random bytes, for inputs.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// Processes whose command line contains `marker` (for orphan checks).
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(marker) {
            found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    found
}
