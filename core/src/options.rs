//! Per-end knobs shared by Reader and Writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// In non-blocking mode, spin before failing with `WouldBlock` (see
    /// `Reader::set_nonblocking_spin`).
    pub nonblocking_spin: bool,
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
            nonblocking_spin: false,
            spin,
            timeout: None,
        }
    }

    /// When a blocking call that starts now gives up with `TimedOut`:
    /// `None` without a timeout, and in non-blocking mode, which never waits.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.nonblocking {
            return None;
        }
        self.timeout.map(|t| Instant::now() + t)
    }
}

/// The least a shrunken spin budget spins: about 64 looks at the peer's
/// line, enough to catch a peer that is running and about to publish, and
/// the probe by which a budget grows back.
pub const MIN_ADAPTIVE_SPIN: Duration = Duration::from_micros(2);

/// One end's current spin budget (see [`DEFAULT_SPIN`]).
#[derive(Debug)]
pub(crate) struct SpinBudget {
    budget: Duration,
    /// When a non-blocking wait's spin ran out and the call failed with
    /// `WouldBlock`: the caller's own wait (an event loop's poll) then
    /// plays the part of the sleep, and the next call tunes the budget.
    gave_up: Option<Instant>,
    /// Where the budget is kept for the next end in the same role (a warm
    /// function's next invocation, see `share`), in nanoseconds.
    shared: Option<Arc<AtomicU64>>,
}

impl SpinBudget {
    pub(crate) fn new() -> SpinBudget {
        SpinBudget {
            budget: Duration::MAX,
            gave_up: None,
            shared: None,
        }
    }

    /// Starts from the budget `cell` holds (if any) and keeps it up to date
    /// there. A warm function's ends are new each invocation; without this
    /// each would start at the full budget and spin it out while the data
    /// is still several functions upstream. A warm 10-function chain passing
    /// 100 bytes (`faasin run --warm 41`, two CPUs), three alternating A/B
    /// pairs: 1.56-1.64 ms per invocation without sharing, 1.28-1.52 with.
    pub(crate) fn share(&mut self, cell: Arc<AtomicU64>) {
        // Relaxed: a hint about the peer's pace; nothing is published with it.
        let ns = cell.load(Ordering::Relaxed);
        if ns != 0 {
            self.budget = Duration::from_nanos(ns);
        }
        self.shared = Some(cell);
    }

    fn set(&mut self, budget: Duration) {
        self.budget = budget;
        if let Some(cell) = &self.shared {
            // Relaxed: as in `share`.
            cell.store(
                u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    /// Starts afresh at the full budget (a new maximum was set), still
    /// keeping it in the shared cell if there is one.
    pub(crate) fn restart(&mut self) {
        self.gave_up = None;
        self.set(Duration::MAX);
    }

    /// How long this wait may spin, given the configured maximum.
    pub(crate) fn get(&self, max: Duration) -> Duration {
        self.budget.min(max)
    }

    /// The spin found what it waited for.
    pub(crate) fn served(&mut self, max: Duration) {
        self.set(
            self.budget
                .saturating_mul(2)
                .min(max)
                .max(MIN_ADAPTIVE_SPIN),
        );
    }

    /// The spin ran out, the end slept, and what it waited for came
    /// `waited` after the spin gave up: had the full spin caught it, the
    /// budget was too short and grows; otherwise it shrinks.
    pub(crate) fn slept(&mut self, waited: Duration, max: Duration) {
        if waited < max {
            self.served(max);
        } else {
            self.set((self.budget.min(max) / 2).max(MIN_ADAPTIVE_SPIN));
        }
    }

    /// A non-blocking call gives up after its spin ran out at `at`.
    pub(crate) fn gave_up_nonblocking(&mut self, at: Instant) {
        self.gave_up = Some(at);
    }

    /// The call after a non-blocking give-up: the caller waited (for
    /// readiness) from then until now, which counts as the sleep.
    pub(crate) fn settle(&mut self, max: Duration) {
        if let Some(t) = self.gave_up.take() {
            self.slept(t.elapsed(), max);
        }
    }
}

/// The bookkeeping of one wait's spin phase, the same for a reader waiting
/// for data and a writer waiting for space: one `pause` between looks at
/// the peer's line (a batch of them costs microseconds on some CPUs, about
/// 65 cycles each on recent AMD, which would set the round-trip latency),
/// and every 64th look the slower checks. The clock is read only once the
/// first 64 looks failed: a streaming peer is usually found before that.
pub(crate) struct SpinPhase {
    looks: u32,
    start: Option<Instant>,
    budget: Duration,
    noted: bool,
}

/// What a look that found nothing leads to (see [`SpinPhase::missed`]).
pub(crate) enum Missed {
    /// Look again.
    Spin,
    /// The peer closed its end on purpose.
    PeerClosed,
    /// Stop spinning and sleep; `Some(when)` if the budget ran out (the
    /// sleep that follows then tunes it, see [`SpinBudget::slept`]).
    Stop(Option<Instant>),
}

impl SpinPhase {
    pub(crate) fn new(budget: Duration) -> SpinPhase {
        SpinPhase {
            looks: 0,
            start: None,
            budget,
            noted: false,
        }
    }

    /// After a look that found nothing. Every 64th look: `peer_closed()`
    /// ends the spin; the first time, `note(cpu)` records the CPU we run on
    /// (1 + its number, 0 if unknown) and says whether spinning can help
    /// (see `ring::spin_may_help`); a spent budget ends it. Looked up this
    /// late, a wait the peer ends at once costs no syscall.
    #[inline]
    pub(crate) fn missed(
        &mut self,
        peer_closed: impl FnOnce() -> bool,
        note: impl FnOnce(u32) -> bool,
    ) -> Missed {
        self.looks = self.looks.wrapping_add(1);
        if self.looks % 64 == 0 {
            if peer_closed() {
                return Missed::PeerClosed;
            }
            if !self.noted {
                self.noted = true;
                if !note(crate::sysfd::current_cpu()) {
                    return Missed::Stop(None);
                }
            }
            if self.start.get_or_insert_with(Instant::now).elapsed() >= self.budget {
                return Missed::Stop(Some(Instant::now()));
            }
        }
        std::hint::spin_loop();
        Missed::Spin
    }

    /// Whether our CPU was recorded during this phase; if not, the caller
    /// records it before it sleeps (the peer's doorbell decision uses it).
    pub(crate) fn noted(&self) -> bool {
        self.noted
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
        // A non-blocking give-up counts as a sleep at the next call.
        let mut b = SpinBudget::new();
        b.gave_up_nonblocking(Instant::now() - long);
        b.settle(max);
        assert_eq!(b.get(max), Duration::from_micros(25));
        b.settle(max);
        assert_eq!(b.get(max), Duration::from_micros(25), "settled once");
        b.gave_up_nonblocking(Instant::now());
        b.settle(max);
        assert_eq!(b.get(max), max, "a short wait grows it back");
        // A shared budget starts the next end where the last one left it.
        let cell = Arc::new(AtomicU64::new(0));
        let mut a = SpinBudget::new();
        a.share(Arc::clone(&cell));
        assert_eq!(a.get(max), max, "nothing kept yet: the full budget");
        a.slept(long, max);
        let mut b = SpinBudget::new();
        b.share(Arc::clone(&cell));
        assert_eq!(b.get(max), Duration::from_micros(25));
        // A maximum below the floor is the budget.
        assert_eq!(b.get(Duration::from_micros(1)), Duration::from_micros(1));
    }
}
