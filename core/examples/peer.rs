//! A test peer in Rust for cross-language tests: writes pseudo-random bytes to
//! the function's output stream, or reads its input stream, and prints the
//! byte count and SHA-256 of what went through.
//!
//! ```text
//! peer write BYTES [SEED] [CHUNK]   # to faasin::output(); prints "BYTES SHA256"
//! peer read [CHUNK]                 # from faasin::input(); prints "BYTES SHA256"
//! peer warm MODE [N]                # a warm function (faasin::invocations())
//! ```
//! A warm peer copies each invocation's input to its output and returns
//! `{"bytes": N, "sha256": "..."}`; MODE says how it misbehaves, for the
//! platform's fault tests: `cat` (it does not), `crash N` (aborts rather
//! than pass on more than N bytes), `exit N` (exits 3 likewise), `hang`
//! (reads its input, writes nothing, never returns), `env NAME` (returns the
//! variable's value instead).
//! Streams come from the usual conventions (FAASOUT_FD / FAASIN_FD, fd 3 / 4,
//! FAASIN_SOCKET), so the same binary also works with plain pipes.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::process::ExitCode;

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
                let value = serve(args, &mut inv.input, &mut inv.output)?;
                inv.finish(value.as_bytes())?;
            }
            Ok("{}".into())
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: peer write BYTES [SEED] [CHUNK] | peer read [CHUNK] | peer warm MODE [N]",
        )),
    }
}

/// One warm invocation: copies input to output, misbehaving as MODE says.
fn serve(
    args: &[String],
    input: &mut faasin::Reader,
    output: &mut faasin::Writer,
) -> io::Result<String> {
    let mode = args.get(1).map_or("cat", String::as_str);
    let limit = match mode {
        "crash" | "exit" => arg(args, 2, 0),
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
        let n = input.read(&mut buf)?;
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
    output.flush()?;
    match mode {
        "env" => {
            let name = args.get(2).map_or("", String::as_str);
            Ok(format!("{:?}", std::env::var(name).unwrap_or_default()))
        }
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
