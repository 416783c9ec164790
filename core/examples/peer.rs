//! A test peer in Rust for cross-language tests: writes pseudo-random bytes to
//! the function's output stream, or reads its input stream, and prints the
//! byte count and SHA-256 of what went through.
//!
//! ```text
//! peer write BYTES [SEED] [CHUNK]   # to faasin::output(); prints "BYTES SHA256"
//! peer read [CHUNK]                 # from faasin::input(); prints "BYTES SHA256"
//! peer warm MODE [N]                # a warm function (faasin::invocations())
//! peer runner PARAMS... -- COMMAND [ARGS...]   # a warm runner for COMMAND
//! ```
//! A warm peer copies each invocation's input to its output and returns
//! `{"bytes": N, "sha256": "..."}`; MODE says how it misbehaves, for the
//! platform's fault tests: `cat` (it does not), `crash N` (aborts rather
//! than pass on more than N bytes), `exit N` (exits 3 likewise), `hang`
//! (reads its input, writes nothing, never returns), `env NAME` (returns the
//! variable's value instead), `params` (returns the invocation's parameters
//! as they came, or `null`), `head N` (passes on the first N bytes and
//! closes its input with the rest unread, as `head -c` does), `unchecked`
//! (copies as `cat`, but closes its output without asking whether the
//! reader took every byte).
//!
//! As a runner, the peer starts COMMAND as a warm function and grants it
//! one invocation per PARAMS (an empty one: no parameters), with empty
//! input, and prints each return value on a line of its own: the bindings'
//! tests see through it what their warm functions got.
//! Streams come from the usual conventions (FAASOUT_FD / FAASIN_FD, fd 3 / 4,
//! FAASIN_SOCKET), so the same binary also works with plain pipes.

use faasin::handoff;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str =
    "usage: peer write BYTES [SEED] [CHUNK] | peer read [CHUNK] | peer warm MODE [N] \
                     | peer runner PARAMS... -- COMMAND [ARGS...]";

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i)
        .map(|s| s.parse().expect("a number"))
        .unwrap_or(default)
}

fn run(args: &[String]) -> io::Result<String> {
    match args.first().map(String::as_str) {
        Some("write") => {
            let total = arg(args, 1, 1 << 20);
            let mut state = arg(args, 2, 1).max(1);
            let chunk = arg(args, 3, 64 * 1024) as usize;
            let mut w = faasin::output()?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; chunk];
            let mut left = total;
            while left > 0 {
                let n = (left as usize).min(chunk);
                for b in buf[..n].chunks_mut(8) {
                    // xorshift64: cheap, deterministic bytes.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let len = b.len();
                    b.copy_from_slice(&state.to_le_bytes()[..len]);
                }
                w.write_all(&buf[..n])?;
                h.update(&buf[..n]);
                left -= n as u64;
            }
            w.flush()?;
            Ok(format!("{total} {}", hex(&h.finalize())))
        }
        Some("read") => {
            let chunk = arg(args, 1, 64 * 1024) as usize;
            let mut r = faasin::input()?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; chunk];
            let mut total = 0u64;
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                total += n as u64;
            }
            Ok(format!("{total} {}", hex(&h.finalize())))
        }
        Some("warm") => {
            for inv in faasin::invocations() {
                let mut inv = inv?;
                let params = inv.params().map(str::to_owned);
                let value = serve(args, &mut inv.input, &mut inv.output, params)?;
                inv.finish(value.as_bytes())?;
            }
            Ok("{}".into())
        }
        Some("runner") => match args.iter().position(|a| a == "--") {
            Some(sep) if sep + 1 < args.len() => runner(&args[1..sep], &args[sep + 1..]),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, USAGE)),
        },
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, USAGE)),
    }
}

/// Plays the warm runner for `command`: one invocation per entry of
/// `params`; the return values, a line each.
fn runner(params: &[String], command: &[String]) -> io::Result<String> {
    let dir = std::env::temp_dir().join(format!("faasin-peer-runner-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("handoff.sock");
    let listener = handoff::listen(&socket)?;
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .env(faasin::ENV_WARM, faasin::WARM_STAYS)
        .env(handoff::ENV_SOCKET, &socket)
        .env(handoff::ENV_TOKEN, "peer")
        // Our stdout is for the return values.
        .stdout(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?))
        .spawn()?;
    // A function that exits before it is done would leave us waiting for
    // its request: its exit ends the run.
    let done = Arc::new(AtomicBool::new(false));
    let waiter = std::thread::spawn({
        let (done, dir) = (Arc::clone(&done), dir.clone());
        move || {
            let status = child.wait();
            // Relaxed: the flag only tells an early exit from the last one.
            if !done.load(Ordering::Relaxed) {
                eprintln!("peer: the function exited early ({status:?})");
                let _ = std::fs::remove_dir_all(&dir);
                std::process::exit(1);
            }
            status
        }
    });
    let mut values = Vec::new();
    let mut kept = None;
    for p in params {
        let conn = match kept.take() {
            Some(c) => c,
            None => next_request(&listener)?,
        };
        let (in_r, in_w) = faasin::pipe_fds(1 << 16)?;
        let (out_r, out_w) = faasin::pipe_fds(1 << 16)?;
        handoff::grant(
            conn.as_fd(),
            Some(in_r.as_fd()),
            Some(out_w.as_fd()),
            p.as_bytes(),
        )?;
        drop((in_r, out_w));
        faasin::Writer::from_fd(in_w)?.close()?;
        io::copy(&mut faasin::Reader::from_fd(out_r)?, &mut io::sink())?;
        let ret = handoff::read_result(conn.as_fd(), 1 << 20)?;
        values.push(String::from_utf8_lossy(&ret.value).into_owned());
        if ret.stays {
            kept = Some(conn);
        }
    }
    let conn = match kept {
        Some(c) => c,
        None => next_request(&listener)?,
    };
    // Relaxed: see the waiter.
    done.store(true, Ordering::Relaxed);
    handoff::end(conn.as_fd())?;
    let status = waiter.join().expect("the waiter thread")?;
    std::fs::remove_dir_all(&dir)?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "the function ended with {status}"
        )));
    }
    Ok(values.join("\n"))
}

/// The next connection on the handoff socket, with its request read.
fn next_request(listener: &OwnedFd) -> io::Result<OwnedFd> {
    let conn = handoff::accept(listener.as_fd())?;
    let token = handoff::read_request(conn.as_fd(), Duration::from_secs(30))?;
    if token != "peer" {
        return Err(io::Error::other(format!("a request with token {token:?}")));
    }
    Ok(conn)
}

/// One warm invocation: copies input to output, misbehaving as MODE says.
fn serve(
    args: &[String],
    input: &mut faasin::Reader,
    output: &mut faasin::Writer,
    params: Option<String>,
) -> io::Result<String> {
    let mode = args.get(1).map_or("cat", String::as_str);
    let limit = match mode {
        "crash" | "exit" | "head" => arg(args, 2, 0),
        _ => u64::MAX,
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    if mode == "hang" {
        // Reads its input, says nothing, and never returns.
        while input.read(&mut buf)? > 0 {}
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    loop {
        let want = match mode {
            "head" => buf.len().min((limit - total) as usize),
            _ => buf.len(),
        };
        let n = match want {
            0 => 0,
            _ => input.read(&mut buf[..want])?,
        };
        if n == 0 {
            break;
        }
        if total + n as u64 > limit {
            output.flush()?;
            match mode {
                "crash" => std::process::abort(),
                _ => std::process::exit(3),
            }
        }
        output.write_all(&buf[..n])?;
        h.update(&buf[..n]);
        total += n as u64;
    }
    if mode != "unchecked" {
        output.flush()?;
    }
    match mode {
        "env" => {
            let name = args.get(2).map_or("", String::as_str);
            Ok(format!("{:?}", std::env::var(name).unwrap_or_default()))
        }
        "params" => Ok(params.unwrap_or_else(|| "null".into())),
        _ => Ok(format!(
            "{{\"bytes\": {total}, \"sha256\": \"{}\"}}",
            hex(&h.finalize())
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}
