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
///
/// This is the most a wait spins: each end halves its budget after a spin
/// that ran out and then slept for longer than this (down to
/// [`MIN_ADAPTIVE_SPIN`]), and doubles it after a spin that found what it
/// waited for or a sleep that this much spinning would have avoided. On a machine with
/// more runnable threads than cores, a peer is often preempted for a whole
/// time slice; spinning for it then only takes a core it may need (measured
/// in BENCHMARKS.md: Python streaming at 1.6-4.2 GB/s with a fixed 50 us
/// spin against 4.7-5.8 GB/s without spinning, under a load of 3.4).
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

/// The least a shrunken spin budget spins: about 64 looks at the peer's
/// line, enough to catch a peer that is running and about to publish, and
/// the probe by which a budget grows back.
pub const MIN_ADAPTIVE_SPIN: Duration = Duration::from_micros(2);

/// One end's current spin budget (see [`DEFAULT_SPIN`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpinBudget(Duration);

impl SpinBudget {
    pub(crate) fn new() -> SpinBudget {
        SpinBudget(Duration::MAX)
    }

    /// How long this wait may spin, given the configured maximum.
    pub(crate) fn get(&self, max: Duration) -> Duration {
        self.0.min(max)
    }

    /// The spin found what it waited for.
    pub(crate) fn served(&mut self, max: Duration) {
        self.0 = self.0.saturating_mul(2).min(max).max(MIN_ADAPTIVE_SPIN);
    }

    /// The spin ran out, the end slept, and what it waited for came
    /// `waited` after the spin gave up: had the full spin caught it, the
    /// budget was too short and grows; otherwise it shrinks.
    pub(crate) fn slept(&mut self, waited: Duration, max: Duration) {
        if waited < max {
            self.served(max);
        } else {
            self.0 = (self.0.min(max) / 2).max(MIN_ADAPTIVE_SPIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_halves_after_long_sleeps_and_doubles_back() {
        let max = Duration::from_micros(50);
        let long = Duration::from_millis(1);
        let mut b = SpinBudget::new();
        assert_eq!(b.get(max), max);
        b.slept(long, max);
        assert_eq!(b.get(max), Duration::from_micros(25));
        for _ in 0..20 {
            b.slept(long, max);
        }
        assert_eq!(b.get(max), MIN_ADAPTIVE_SPIN);
        b.served(max);
        assert_eq!(b.get(max), 2 * MIN_ADAPTIVE_SPIN);
        // A sleep that a full spin would have avoided grows the budget too.
        b.slept(Duration::from_micros(30), max);
        assert_eq!(b.get(max), 4 * MIN_ADAPTIVE_SPIN);
        for _ in 0..20 {
            b.served(max);
        }
        assert_eq!(b.get(max), max);
        // A maximum below the floor is the budget.
        assert_eq!(b.get(Duration::from_micros(1)), Duration::from_micros(1));
    }
}
