//! Watching a one-shot run's functions until every one has ended: exits,
//! handoff grants, the grace period after a failure, the run's timeout,
//! signals (a second Ctrl-C: no more patience), and the progress lines.

use crate::chain::Chain;
use crate::edge::Edge;
use crate::handoff_server::HandoffServer;
use crate::options::{Options, KILL_AFTER, MAX_RETURN, TICK};
use crate::process::{self, Exit, Returned};
use crate::progress::Progress;
use crate::signals;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the run learns of its functions while they run.
pub enum Event {
    Exit(usize, Exit),
    /// Function `i` took its ends from the handoff socket.
    Granted(usize, Instant),
}

/// What the run knows of one function.
#[derive(Default)]
pub struct Slot {
    pub pid: Option<i32>,
    pub container: Option<String>,
    /// Its handoff token, while its ends may still be on offer.
    pub token: Option<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub status: Option<ExitStatus>,
    pub error: Option<String>,
    /// First seen writing (sampled from a ring's probe).
    pub first_out: Option<Instant>,
    pub max_rss: Option<u64>,
    pub handoff_at: Option<Instant>,
    /// Reads its return value while it runs.
    pub ret: Option<JoinHandle<Returned>>,
    /// Its return value, once it has ended.
    pub returned: Option<Vec<u8>>,
    /// The runner signalled it.
    pub killed: bool,
    pub notes: Vec<String>,
}

impl Slot {
    /// A fresh slot for every function of `chain`.
    pub fn each_of(chain: &Chain) -> Vec<Slot> {
        chain.functions.iter().map(|_| Slot::default()).collect()
    }

    pub fn running(&self) -> bool {
        self.pid.is_some() && self.end.is_none()
    }

    pub fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| !s.success())
    }

    /// Keeps a return value, noting a cut.
    pub fn returned(&mut self, r: Returned) {
        if r.truncated {
            self.notes
                .push(format!("return value cut at {MAX_RETURN} bytes"));
        }
        self.returned = Some(r.bytes);
    }

    pub fn exited(&mut self, exit: Exit) {
        self.end = Some(exit.at);
        self.max_rss = exit.max_rss;
        match exit.status {
            Ok(st) => self.status = Some(st),
            Err(e) => self.error = Some(format!("waiting for it failed: {e}")),
        }
        // A function is over when its main process is: whatever it left
        // running in its group would hold its ends open.
        let signaled = self.status.is_some_and(|st| st.signal().is_some());
        if self.pid.is_some_and(process::kill_leftovers) && !self.killed && !signaled {
            self.notes
                .push("left processes running in its process group; the runner killed them".into());
        }
    }
}

/// When the runner steps in: SIGTERM at `term_at`, SIGKILL at `kill_at`.
pub struct Supervisor<'a> {
    opts: &'a Options,
    start: Instant,
    /// Why the runner itself stopped the chain.
    reason: Option<String>,
    term_at: Option<Instant>,
    kill_at: Option<Instant>,
    seen_signals: u32,
    progress: Option<Progress>,
    next_draw: Instant,
}

impl<'a> Supervisor<'a> {
    pub fn new(opts: &'a Options, start: Instant) -> Supervisor<'a> {
        Supervisor {
            opts,
            start,
            reason: None,
            term_at: None,
            kill_at: None,
            seen_signals: 0,
            progress: opts.progress.then(Progress::new),
            next_draw: Instant::now(),
        }
    }

    /// Waits for every function. Returns the reason the runner itself
    /// stopped the chain, if it did.
    pub fn run(
        mut self,
        chain: &Chain,
        slots: &mut [Slot],
        edges: &[Edge],
        rx: &mpsc::Receiver<Event>,
        server: Option<&HandoffServer>,
    ) -> Option<String> {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Event::Exit(i, exit)) => {
                    let s = &mut slots[i];
                    s.exited(exit);
                    let withdrawn = server
                        .zip(s.token.take())
                        .is_some_and(|(v, t)| v.withdraw(&t));
                    if withdrawn && s.handoff_at.is_none() {
                        s.notes
                            .push("ended without taking its ends from the handoff socket".into());
                    }
                }
                Ok(Event::Granted(i, at)) => slots[i].handoff_at = Some(at),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Every sender gone means no function is running; the check
                // below ends the loop. Never spin meanwhile.
                Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            }
            let now = Instant::now();
            for (s, e) in slots.iter_mut().zip(&edges[1..]) {
                if s.first_out.is_none() && e.probed_any() {
                    s.first_out = Some(now);
                }
            }
            if slots.iter().all(|s| !s.running()) {
                break;
            }
            self.step(slots, now);
            self.draw(chain, slots, edges, now);
        }
        if let Some(p) = self.progress.as_mut() {
            p.clear();
        }
        self.reason
    }

    /// Signals, the timeout and a failure start the end; SIGTERM, then
    /// SIGKILL, carry it out.
    fn step(&mut self, slots: &mut [Slot], now: Instant) {
        let sigs = signals::count();
        if sigs > self.seen_signals {
            self.seen_signals = sigs;
            if self.reason.is_none() {
                let sig = signals::received().unwrap_or(libc::SIGINT);
                self.reason = Some(format!("interrupted by {}", signals::name(sig)));
                self.term_at = Some(now);
            } else {
                // A second Ctrl-C: no more patience.
                self.kill_at = Some(now);
            }
        }
        if let (Some(t), None) = (self.opts.timeout, &self.reason) {
            if now.duration_since(self.start) >= t {
                self.reason = Some(format!("the chain timed out after {} s", t.as_secs_f64()));
                self.term_at = Some(now);
            }
        }
        if self.term_at.is_none() && slots.iter().any(Slot::failed) {
            self.term_at = Some(now + self.opts.grace);
        }
        if self.term_at.is_some_and(|t| now >= t) && self.kill_at.is_none() {
            signal_all(slots, libc::SIGTERM);
            remove_containers(slots, &self.opts.docker);
            self.kill_at = Some(now + KILL_AFTER);
        }
        if self.kill_at.is_some_and(|t| now >= t) {
            signal_all(slots, libc::SIGKILL);
            // Once is enough; a process that survives SIGKILL is stuck in
            // the kernel and its wait will come.
            self.kill_at = Some(now + Duration::from_secs(3600));
        }
    }

    fn draw(&mut self, chain: &Chain, slots: &[Slot], edges: &[Edge], now: Instant) {
        if let Some(p) = self.progress.as_mut() {
            if now >= self.next_draw {
                p.draw(&progress_lines(chain, slots, edges));
                self.next_draw = now + Duration::from_millis(200);
            }
        }
    }
}

fn progress_lines(chain: &Chain, slots: &[Slot], edges: &[Edge]) -> Vec<String> {
    let b = |v: Option<u64>| v.map_or("?".to_string(), crate::report::human_bytes);
    chain
        .functions
        .iter()
        .zip(slots)
        .enumerate()
        .map(|(i, (f, s))| {
            let state = if s.running() {
                "running".to_string()
            } else if let Some(st) = s.status {
                crate::report::status_text(st.code(), st.signal())
            } else if s.error.is_some() {
                "failed to start".into()
            } else {
                "waiting".into()
            };
            format!(
                "{:>2} {:<16} {:<16} in {:>10}  out {:>10}",
                i + 1,
                f.name,
                state,
                b(edges[i].consumed()),
                b(edges[i + 1].written())
            )
        })
        .collect()
}

fn signal_all(slots: &mut [Slot], sig: libc::c_int) {
    for s in slots.iter_mut().filter(|s| s.running()) {
        if let Some(pid) = s.pid {
            process::signal_group(pid, sig);
            s.killed = true;
        }
    }
}

/// `docker rm -f` every container of the chain that may still exist.
pub fn remove_containers(slots: &[Slot], docker: &str) {
    let names: Vec<&str> = slots
        .iter()
        .filter_map(|s| s.container.as_deref())
        .collect();
    crate::containers::remove(&names, docker);
}
