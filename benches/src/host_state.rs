//! Which state the VM host has put our two vCPUs in, measured, so that a
//! throughput figure can be read with it.
//!
//! The host moves the two vCPUs between a "near" placement (a bare
//! cache-line round trip of about 35-140 ns) and a "far" one (about
//! 400-800 ns), often several times a second. Streaming through shared
//! memory moves every byte across that path, so the ring's rate follows the
//! state (BENCHMARKS.md, "Host state"), while a socket's rate, bounded by
//! its syscalls and kernel copies, moves much less. A benchmark probes the
//! state right before and right after each measurement and keeps the
//! measurement's state only if both probes agree.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A bare round trip above this is the far state (the two groups seen on
/// the project's machine are 35-140 ns and 400-800 ns).
pub const FAR_ABOVE_NS: f64 = 250.0;

/// Round trips per probe; with the warm-up, a probe takes well under a
/// millisecond in the near state and about 2 ms in the far one.
const PROBE_TRIPS: u64 = 2000;

/// The state a probe, or a measurement between two probes, ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Near,
    Far,
    /// The probes before and after disagree: the state changed during the
    /// measurement.
    Mixed,
}

impl HostState {
    pub fn of(rtt_ns: f64) -> HostState {
        if rtt_ns > FAR_ABOVE_NS {
            HostState::Far
        } else {
            HostState::Near
        }
    }

    /// The state of a measurement from the probes around it.
    pub fn between(before_ns: f64, after_ns: f64) -> HostState {
        match (HostState::of(before_ns), HostState::of(after_ns)) {
            (a, b) if a == b => a,
            _ => HostState::Mixed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HostState::Near => "near",
            HostState::Far => "far",
            HostState::Mixed => "mixed",
        }
    }
}

#[repr(C, align(128))]
struct Line(AtomicU64);

/// Sent on the ping line when the probe is called off.
const STOP: u64 = u64::MAX;

/// Mean round trip, in ns, of a bare ping-pong between a thread pinned to
/// CPU 0 and one pinned to CPU 1, each spinning on the other's line. Errors
/// if the machine has fewer than two CPUs to pin to.
pub fn probe() -> io::Result<f64> {
    // ping, pong, and the answering thread's "pinned" flag (1 ok, 2 failed).
    let lines = Arc::new([
        Line(AtomicU64::new(0)),
        Line(AtomicU64::new(0)),
        Line(AtomicU64::new(0)),
    ]);
    let other = lines.clone();
    let answer = std::thread::Builder::new()
        .name("state-probe".into())
        .spawn(move || -> io::Result<()> {
            let (ping, pong, ready) = (&other[0].0, &other[1].0, &other[2].0);
            if let Err(e) = pin_to(1) {
                // Release: pairs with the Acquire load of ready in `probe`.
                ready.store(2, Ordering::Release);
                return Err(e);
            }
            // Release: as above.
            ready.store(1, Ordering::Release);
            for i in 1..=PROBE_TRIPS * 2 {
                loop {
                    // Acquire: pairs with the Release stores of ping in `probe`.
                    match ping.load(Ordering::Acquire) {
                        STOP => return Ok(()),
                        p if p == i => break,
                        _ => std::hint::spin_loop(),
                    }
                }
                // Release: pairs with the Acquire load of pong in `probe`.
                pong.store(i, Ordering::Release);
            }
            Ok(())
        })?;
    let (ping, pong, ready) = (&lines[0].0, &lines[1].0, &lines[2].0);
    // The caller's thread gets its own affinity back afterwards.
    let mine = current_affinity()?;
    let res = (|| {
        pin_to(0)?;
        // Acquire: pairs with the Release stores of ready in the thread.
        let mut r = ready.load(Ordering::Acquire);
        while r == 0 {
            std::thread::yield_now();
            r = ready.load(Ordering::Acquire);
        }
        if r != 1 {
            return Err(io::Error::other(
                "the state probe's second thread could not be pinned",
            ));
        }
        let trip = |i: u64| {
            // Release: pairs with the Acquire load of ping in the thread.
            ping.store(i, Ordering::Release);
            // Acquire: pairs with the Release store of pong in the thread.
            while pong.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
        };
        // The first half warms both lines and both CPUs up.
        for i in 1..=PROBE_TRIPS {
            trip(i);
        }
        let start = Instant::now();
        for i in PROBE_TRIPS + 1..=PROBE_TRIPS * 2 {
            trip(i);
        }
        Ok(start.elapsed().as_secs_f64() * 1e9 / PROBE_TRIPS as f64)
    })();
    if res.is_err() {
        // Release: the thread's Acquire load of ping sees it and returns.
        ping.store(STOP, Ordering::Release);
    }
    let restored = set_affinity(&mine);
    let joined = answer
        .join()
        .map_err(|_| io::Error::other("the probe thread panicked"))?;
    let ns = res?;
    joined?;
    restored?;
    Ok(ns)
}

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("no CPU {cpu}")));
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t and cpu < CPU_SETSIZE (checked).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}

fn current_affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; `set` is valid for its size.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: pid 0 is this thread; `set` is a valid cpu_set_t of that size.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if r != 0 {
        return Err(io::Error::other(format!(
            "cannot pin to a CPU ({}); the benchmarks need two CPUs",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_keeps_its_state_only_when_both_probes_agree() {
        assert_eq!(HostState::between(110.0, 130.0), HostState::Near);
        assert_eq!(HostState::between(450.0, 700.0), HostState::Far);
        assert_eq!(HostState::between(110.0, 450.0), HostState::Mixed);
        assert_eq!(HostState::between(450.0, 40.0), HostState::Mixed);
    }

    #[test]
    fn the_probe_measures_a_round_trip() {
        // Two CPUs are what every FAASIN benchmark machine has; a probe on
        // one CPU would be an error, not a number.
        let ns = probe().expect("probe");
        assert!(ns.is_finite() && ns > 1.0, "{ns} ns");
    }
}
