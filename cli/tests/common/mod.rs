//! Helpers for running the built `faasin` binary in tests.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

pub mod nodes;
pub mod service;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Runs `faasin run --report DIR/r.json ARGS` with `stdin`; returns the
/// output and the report, which every run with `--report` writes (the caller
/// checks the status).
pub fn run_reported(dir: &Path, args: &[&str], stdin: &[u8]) -> (Output, serde_json::Value) {
    let report = dir.join("r.json");
    let mut all = vec!["run", "--report", arg(&report)];
    all.extend_from_slice(args);
    let out = run(&all, stdin);
    assert!(
        report.exists(),
        "no report written; stderr:\n{}",
        stderr(&out)
    );
    (out, read_report(&report))
}

/// Runs `faasin run ARGS 'peer write BYTES 42' ['faasin cat' x n_middle]
/// 'peer read'` with its report in `dir`.
pub fn run_peer_chain(
    dir: &Path,
    args: &[&str],
    n_middle: usize,
    bytes: u64,
) -> (Output, serde_json::Value) {
    let write = format!("peer write {bytes} 42");
    let mut all = args.to_vec();
    all.push(&write);
    all.extend(std::iter::repeat("faasin cat").take(n_middle));
    all.push("peer read");
    run_reported(dir, &all, b"")
}

/// Runs the chain file `file` (`faasin run -f FILE`, empty stdin) with its
/// report next to it.
pub fn run_file(file: &Path) -> (Output, serde_json::Value) {
    run_reported(file.parent().unwrap(), &["-f", arg(file)], b"")
}

/// Writes `text` as a chain file into a fresh temp dir named after `tag`.
pub fn chain_file(tag: &str, text: &str) -> PathBuf {
    let file = tmpdir(tag).join("chain.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A path as a command-line argument (test paths are UTF-8).
pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The run ended with exit status `code` and said `needle` on stderr;
/// returns its stderr for further checks.
pub fn assert_fails_with(out: &Output, code: i32, needle: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "want {needle:?} in: {err}");
    err
}

/// Runs `faasin ARGS` (empty stdin), which must end with exit status `code`
/// and say `needle` on stderr; returns its stderr for further checks.
pub fn run_fails_with(args: &[&str], code: i32, needle: &str) -> String {
    assert_fails_with(&run(args, b""), code, needle)
}

/// As [`run_fails_with`], and the run must end within `limit`: the failure
/// stops it at once instead of leaving it to hang.
pub fn run_fails_within(limit: Duration, args: &[&str], code: i32, needle: &str) -> String {
    let t = Instant::now();
    let err = run_fails_with(args, code, needle);
    assert!(t.elapsed() < limit, "took {:?}", t.elapsed());
    err
}

/// Polls `done` until it holds; fails with `what()` once `limit` has passed.
pub fn wait_until(limit: Duration, what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "{}", what());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `faasin ARGS` in the background: stdin open and silent, stdout
/// discarded, stderr kept for [`interrupt`].
pub fn spawn(args: &[&str]) -> Child {
    faasin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faasin")
}

/// Sends `sig` to the runner `child`, which must stop within `limit`;
/// returns its exit status and stderr.
pub fn interrupt(child: &mut Child, sig: i32, limit: Duration) -> (ExitStatus, String) {
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, sig) };
    let mut status = None;
    wait_until(
        limit,
        || "the runner did not stop".into(),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.unwrap(), err)
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

/// No process is left whose command line contains `marker`.
pub fn assert_none_left(marker: &str) {
    let left = processes_with(marker);
    assert!(left.is_empty(), "left behind: {left:?}");
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
