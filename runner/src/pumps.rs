//! The runner's own copying: feeding the first function, draining the last
//! one, and the stdio adapters. Each copy counts what went through, so the
//! report has exact numbers wherever the runner holds an end.

use faasin::{Reader, Writer};
use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Bytes through one runner-held end, and when the first one went.
#[derive(Debug)]
pub struct Meter {
    start: Instant,
    bytes: AtomicU64,
    /// Nanoseconds after `start` of the first byte, plus one (0: none yet).
    first: AtomicU64,
    /// The copy reached the end of its source.
    eof: AtomicBool,
}

impl Meter {
    pub fn new(start: Instant) -> Meter {
        Meter {
            start,
            bytes: AtomicU64::new(0),
            first: AtomicU64::new(0),
            eof: AtomicBool::new(false),
        }
    }

    // Relaxed everywhere: statistics, read after the threads are joined or
    // for a progress line; nothing else depends on them.
    fn add(&self, n: usize) {
        if self.first.load(Ordering::Relaxed) == 0 {
            let ns = self.start.elapsed().as_nanos() as u64 + 1;
            self.first.store(ns, Ordering::Relaxed);
        }
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Seconds after the start when the first byte went through.
    pub fn first_byte_s(&self) -> Option<f64> {
        match self.first.load(Ordering::Relaxed) {
            0 => None,
            ns => Some((ns - 1) as f64 / 1e9),
        }
    }

    pub fn reached_eof(&self) -> bool {
        self.eof.load(Ordering::Relaxed)
    }
}

/// Copies everything from a stream end to `dst` (zero-copy on the ring side:
/// `dst` is written straight from the ring's memory).
pub fn from_stream(mut src: Reader, dst: &mut dyn Write, meter: &Meter) -> io::Result<()> {
    loop {
        let n = {
            let buf = match src.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                meter.eof.store(true, Ordering::Relaxed);
                return dst.flush();
            }
            dst.write_all(buf)?;
            buf.len()
        };
        src.consume(n);
        meter.add(n);
    }
}

/// Copies everything from `src` into a stream end (zero-copy on the ring
/// side: `src` reads straight into the ring's free space).
pub fn into_stream(src: &mut dyn Read, mut dst: Writer, meter: &Meter) -> io::Result<()> {
    loop {
        let mut grant = dst.reserve(1)?;
        let n = loop {
            match src.read(&mut grant) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            // The grant is dropped uncommitted: nothing is published.
            meter.eof.store(true, Ordering::Relaxed);
            return Ok(());
        }
        grant.commit(n)?;
        meter.add(n);
    }
}
