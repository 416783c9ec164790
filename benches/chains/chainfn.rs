//! `chainfn`: the functions of the chain benchmarks. It knows nothing of
//! transports: it reads `faasin::input()` and writes `faasin::output()`,
//! which are a FAASIN ring, a pipe or a file depending on how the runner
//! started it.
//!
//! - `chainfn write BYTES`: writes BYTES pseudo-random bytes; returns
//!   `{"bytes": N, "sum": S, ...}`.
//! - `chainfn read`: reads to EOF; returns the same plus the wall-clock time
//!   (Unix seconds) it started and got its first byte, so that "time until B
//!   has its first byte" is exact on every transport.
//!
//! It loops over `faasin::invocations()`: once when started by a one-shot
//! chain (the return value goes to stdout), once per invocation when
//! started by `faasin run --warm N`.
//!
//! The check is a wrapping sum of the stream's little-endian 64-bit words
//! (taken at their place in the whole stream, so however the reads split
//! it): cheap, so it does not hide the transport's cost (22 GB/s here, where
//! the earlier byte-wise sum ran at 4.7 GB/s and bounded every hop from
//! 16 MiB), and it catches a lost, added or changed byte. The runner's own
//! tests check order with SHA-256 (core's `peer`).

use faasin::{Reader, Writer};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The check's running state: the sum so far and the stream position.
#[derive(Default)]
struct Check {
    sum: u64,
    pos: u64,
}

impl Check {
    /// Adds the next bytes of the stream: byte k of the stream counts as
    /// `b << 8 * (k % 8)`, i.e. the sum of its little-endian words.
    fn add(&mut self, mut b: &[u8]) {
        while !self.pos.is_multiple_of(8) && !b.is_empty() {
            self.sum = self
                .sum
                .wrapping_add(u64::from(b[0]) << (8 * (self.pos % 8)));
            self.pos += 1;
            b = &b[1..];
        }
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            self.sum = self.sum.wrapping_add(w);
        }
        self.pos += (b.len() - words.remainder().len()) as u64;
        for &x in words.remainder() {
            self.sum = self.sum.wrapping_add(u64::from(x) << (8 * (self.pos % 8)));
            self.pos += 1;
        }
    }
}

/// One MiB of xorshift bytes, written over and over.
fn block() -> Vec<u8> {
    let mut block = vec![0u8; 1 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for c in block.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
    }
    block
}

fn write(total: u64, block: &[u8], out: &mut Writer, start: f64) -> std::io::Result<String> {
    let ready = now();
    let mut left = total;
    let mut check = Check::default();
    while left > 0 {
        let n = left.min(64 * 1024) as usize;
        let off = ((total - left) % block.len() as u64) as usize;
        let n = n.min(block.len() - off);
        let part = &block[off..off + n];
        out.write_all(part)?;
        check.add(part);
        left -= n as u64;
    }
    out.flush()?;
    Ok(format!(
        "{{\"bytes\": {total}, \"sum\": {}, \"start_unix_s\": {start:.6}, \"ready_unix_s\": {ready:.6}, \"end_unix_s\": {:.6}}}",
        check.sum,
        now()
    ))
}

fn read(inp: &mut Reader, start: f64) -> std::io::Result<String> {
    let ready = now();
    let mut first = None;
    let mut total = 0u64;
    let mut check = Check::default();
    loop {
        let n = {
            let buf = inp.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            first.get_or_insert_with(now);
            check.add(buf);
            buf.len()
        };
        inp.consume(n);
        total += n as u64;
    }
    let first = first.map_or("null".to_string(), |t| format!("{t:.6}"));
    Ok(format!(
        "{{\"bytes\": {total}, \"sum\": {}, \"start_unix_s\": {start:.6}, \"ready_unix_s\": {ready:.6}, \"first_byte_unix_s\": {first}, \"end_unix_s\": {:.6}}}",
        check.sum,
        now()
    ))
}

enum Mode {
    Write(u64),
    Read,
}

fn serve(mode: Mode) -> std::io::Result<()> {
    let block = match mode {
        Mode::Write(_) => block(),
        Mode::Read => Vec::new(),
    };
    let mut start = now();
    for inv in faasin::invocations() {
        let mut inv = inv?;
        let line = match mode {
            Mode::Write(n) => write(n, &block, &mut inv.output, start)?,
            Mode::Read => read(&mut inv.input, start)?,
        };
        inv.finish(format!("{line}\n").as_bytes())?;
        start = now();
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", n] => match n.parse() {
            Ok(n) => Mode::Write(n),
            Err(_) => {
                eprintln!("chainfn: write BYTES: {n:?} is not a byte count");
                return ExitCode::from(2);
            }
        },
        ["read"] => Mode::Read,
        _ => {
            eprintln!("usage: chainfn write BYTES | chainfn read");
            return ExitCode::from(2);
        }
    };
    match serve(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chainfn: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Check;

    #[test]
    fn the_check_does_not_depend_on_how_the_stream_is_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut whole = Check::default();
        whole.add(&data);
        for split in [1, 3, 7, 8, 9, 64, 333] {
            let mut c = Check::default();
            for part in data.chunks(split) {
                c.add(part);
            }
            assert_eq!(c.sum, whole.sum, "split {split}");
            assert_eq!(c.pos, 1000);
        }
        let mut changed = data.clone();
        changed[500] ^= 1;
        let mut c = Check::default();
        c.add(&changed);
        assert_ne!(c.sum, whole.sum);
        let mut c = Check::default();
        c.add(&data[..999]);
        assert_ne!(c.sum, whole.sum, "a lost last byte");
    }
}
