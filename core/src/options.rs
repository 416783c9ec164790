//! Per-end knobs shared by Reader and Writer.

use std::time::Duration;

/// Default spin budget before a waiting end goes to sleep in the kernel.
///
/// A cross-core kernel wake-up costs 35–55 µs on the machines we target,
/// while a cache line crosses in 45–165 ns. Spinning about as long as one
/// wake-up costs bounds the waste at 2x the optimum (the classic
/// spin-then-block competitive bound) and keeps streaming peers off the
/// sleep path entirely. Override per end with `set_spin`, or per process
/// with the env variable `FAASIN_SPIN_US`.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub nonblocking: bool,
    pub spin: Duration,
    pub timeout: Option<Duration>,
}

impl Options {
    pub(crate) fn from_env() -> Options {
        let spin = std::env::var("FAASIN_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_micros)
            .unwrap_or(DEFAULT_SPIN);
        Options {
            nonblocking: false,
            spin,
            timeout: None,
        }
    }
}
