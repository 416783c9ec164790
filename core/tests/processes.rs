//! Multi-process tests: real child processes (this test binary re-executed in
//! a child role), streams handed over at fds 3 and 4 as the runner does, and
//! peers killed with SIGKILL at random points.

use faasin::{pipe_fds, Reader, Writer};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "FAASIN_TEST_ROLE";

/// Deterministic byte stream shared by both sides: byte i of the stream.
fn stream_byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (i as u8)
}

fn fill_stream(buf: &mut [u8], start: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(start + k as u64);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Spawns this test binary in `role`, with `input` at fd 3 and `output` at fd 4.
fn spawn(
    role: &str,
    input: Option<&OwnedFd>,
    output: Option<&OwnedFd>,
    extra: &[(&str, String)],
) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env_remove("FAASIN_FD")
        .env_remove("FAASOUT_FD")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let fds = [input.map(|f| f.as_raw_fd()), output.map(|f| f.as_raw_fd())];
    // SAFETY: the closure only calls async-signal-safe dup2 on fds that are
    // open in the parent, as required after fork.
    unsafe {
        cmd.pre_exec(move || {
            for (target, fd) in [(3, fds[0]), (4, fds[1])] {
                if let Some(fd) = fd {
                    if libc::dup2(fd, target) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let out = io::stdout();
    match role.as_str() {
        "writer-random" => {
            let total: u64 = std::env::var("BYTES").unwrap().parse().unwrap();
            let mut rng = Rng(std::env::var("SEED").unwrap().parse().unwrap());
            let mut w = faasin::output().unwrap();
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 300_000];
            let mut pos = 0u64;
            while pos < total {
                let n = (1 + rng.below(buf.len() as u64)).min(total - pos) as usize;
                fill_stream(&mut buf[..n], pos);
                if rng.below(4) == 0 {
                    // Zero-copy path for a quarter of the chunks.
                    let mut left = &buf[..n];
                    while !left.is_empty() {
                        let mut g = w.reserve(1).unwrap();
                        let k = g.len().min(left.len());
                        g[..k].copy_from_slice(&left[..k]);
                        g.commit(k).unwrap();
                        left = &left[k..];
                    }
                } else {
                    w.write_all(&buf[..n]).unwrap();
                }
                h.update(&buf[..n]);
                pos += n as u64;
            }
            writeln!(out.lock(), "\nRESULT {}", hex(&h.finalize())).unwrap();
        }
        "writer-forever" => {
            // Publishes how much it has committed through a shared file, so the
            // parent knows what must still arrive after the SIGKILL.
            let path = std::env::var("COUNTER").unwrap();
            let mut w = faasin::output().unwrap();
            let mut rng = Rng(std::env::var("SEED").unwrap().parse().unwrap());
            let mut buf = vec![0u8; 20_000];
            let mut pos = 0u64;
            loop {
                let n = 1 + rng.below(buf.len() as u64) as usize;
                fill_stream(&mut buf[..n], pos);
                w.write_all(&buf[..n]).unwrap();
                pos += n as u64;
                std::fs::write(&path, pos.to_string()).unwrap();
            }
        }
        "reader-forever" => {
            let mut r = faasin::input().unwrap();
            let mut buf = vec![0u8; 7000];
            loop {
                if r.read(&mut buf).unwrap() == 0 {
                    break;
                }
            }
        }
        "params" => {
            // One-shot, on stdin and stderr: the parameters from the env, as
            // faasin::params() and the one invocation see them.
            let inv = faasin::invocations().next().unwrap().unwrap();
            let (from_env, of_inv) = (faasin::params(), inv.params().map(str::to_owned));
            inv.finish(b"").unwrap();
            writeln!(out.lock(), "\nRESULT {from_env:?} {of_inv:?}").unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn result_line(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.trim().to_string()))
        .unwrap_or_else(|| panic!("no RESULT line in {text:?}"))
}

#[test]
fn one_gib_in_random_chunks_through_a_small_ring() {
    const TOTAL: u64 = 1 << 30;
    let (rfd, wfd) = pipe_fds(64 * 1024).unwrap();
    let child = spawn(
        "writer-random",
        None,
        Some(&wfd),
        &[("BYTES", TOTAL.to_string()), ("SEED", "7".into())],
    );
    drop(wfd);
    let mut r = Reader::from_fd(rfd).unwrap();
    let mut rng = Rng(99);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 200_000];
    let mut total = 0u64;
    loop {
        let n = if rng.below(3) == 0 {
            let span = r.fill_buf().unwrap();
            let n = span.len().min(1 + rng.below(100_000) as usize);
            h.update(&span[..n]);
            r.consume(n);
            n
        } else {
            let want = 1 + rng.below(buf.len() as u64) as usize;
            let n = r.read(&mut buf[..want]).unwrap();
            h.update(&buf[..n]);
            n
        };
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, TOTAL);
    assert_eq!(hex(&h.finalize()), result_line(child));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn writer_killed_mid_stream_delivers_every_commit_then_eof() {
    let dir = std::env::temp_dir().join(format!("faasin-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(12345);
    let mut to_eof = Vec::new();
    for round in 0..20 {
        let counter = dir.join(format!("w{round}"));
        let (rfd, wfd) = pipe_fds(64 * 1024).unwrap();
        let mut child = spawn(
            "writer-forever",
            None,
            Some(&wfd),
            &[
                ("COUNTER", counter.display().to_string()),
                ("SEED", (round + 1).to_string()),
            ],
        );
        drop(wfd);
        let mut r = Reader::from_fd(rfd).unwrap();
        let mut buf = vec![0u8; 50_000];
        let mut got = 0u64;
        // Read for a random while, then kill -9 the writer at a random point.
        let until = Instant::now() + Duration::from_millis(5 + rng.below(60));
        while Instant::now() < until {
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0);
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    stream_byte(got + k as u64),
                    "corrupted byte at {}",
                    got + k as u64
                );
            }
            got += n as u64;
        }
        child.kill().unwrap();
        let killed = Instant::now();
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    stream_byte(got + k as u64),
                    "corrupted byte at {}",
                    got + k as u64
                );
            }
            got += n as u64;
        }
        to_eof.push(killed.elapsed());
        child.wait().unwrap();
        let committed: u64 = std::fs::read_to_string(&counter)
            .map(|s| s.parse().unwrap_or(0))
            .unwrap_or(0);
        assert!(
            got >= committed,
            "round {round}: got {got} bytes, but {committed} were committed"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let worst = *to_eof.iter().max().unwrap();
    assert!(
        median(to_eof) < Duration::from_millis(100),
        "EOF after a SIGKILL took too long"
    );
    assert!(worst < Duration::from_secs(2), "worst case {worst:?}");
}

#[test]
fn reader_killed_mid_stream_gives_broken_pipe() {
    let mut rng = Rng(777);
    let mut to_epipe = Vec::new();
    for _ in 0..20 {
        let (rfd, wfd) = pipe_fds(64 * 1024).unwrap();
        let mut child = spawn("reader-forever", Some(&rfd), None, &[]);
        drop(rfd);
        let mut w = Writer::from_fd(wfd).unwrap();
        let chunk = vec![0x5Au8; 10_000];
        let until = Instant::now() + Duration::from_millis(5 + rng.below(60));
        while Instant::now() < until {
            w.write_all(&chunk).unwrap();
        }
        child.kill().unwrap();
        let killed = Instant::now();
        let err = loop {
            if let Err(e) = w.write_all(&chunk) {
                break e;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "writes keep succeeding after the reader died"
            );
        };
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        to_epipe.push(killed.elapsed());
        child.wait().unwrap();
    }
    let worst = *to_epipe.iter().max().unwrap();
    assert!(
        median(to_epipe) < Duration::from_millis(100),
        "EPIPE after a SIGKILL took too long"
    );
    assert!(worst < Duration::from_secs(2), "worst case {worst:?}");
}

#[test]
fn default_fds_are_used_only_when_they_are_endpoints() {
    // A child whose fd 3 is a plain file must get a clear error, not read it.
    let exe = std::env::current_exe().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let fd = file.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, "reader-forever")
        .env_remove("FAASIN_FD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe dup2 after fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a FAASIN endpoint"), "{err}");
    assert!(err.contains("faasin run"), "{err}");
}

/// A one-shot function's parameters come from `FAASIN_PARAMS`, for
/// `faasin::params()` and its one invocation alike.
#[test]
fn a_one_shot_function_takes_its_parameters_from_the_env() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let cases: [(Option<OsString>, &str); 4] = [
        (None, "None None"),
        (Some("".into()), "None None"),
        (
            Some("{\"q\": \"ä\"}".into()),
            r#"Some("{\"q\": \"ä\"}") Some("{\"q\": \"ä\"}")"#,
        ),
        (
            Some(OsString::from_vec(b"a\xffb".to_vec())),
            "Some(\"a\u{fffd}b\") Some(\"a\u{fffd}b\")",
        ),
    ];
    for (value, want) in cases {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(ROLE, "params")
            .env("FAASIN_FD", "0")
            .env("FAASOUT_FD", "2")
            .env_remove(faasin::ENV_WARM)
            .env_remove(faasin::handoff::ENV_SOCKET)
            .env_remove(faasin::ENV_PARAMS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(v) = &value {
            cmd.env(faasin::ENV_PARAMS, v);
        }
        assert_eq!(result_line(cmd.spawn().unwrap()), want, "{value:?}");
    }
}
