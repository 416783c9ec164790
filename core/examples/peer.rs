//! A test peer in Rust for cross-language tests: writes pseudo-random bytes to
//! the function's output stream, or reads its input stream, and prints the
//! byte count and SHA-256 of what went through.
//!
//! ```text
//! peer write BYTES [SEED] [CHUNK]   # to faasin::output(); prints "BYTES SHA256"
//! peer read [CHUNK]                 # from faasin::input(); prints "BYTES SHA256"
//! ```
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
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: peer write BYTES [SEED] [CHUNK] | peer read [CHUNK]",
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
