//! A warm chain: one [`Instance`] of each function of a chain, kept between
//! invocations, with the stream memory its edges reuse. An invocation runs
//! on a warm chain (module `invocation`); a service that runs several at
//! once keeps several warm chains.

use crate::chain::Chain;
use crate::containers;
use crate::events::{self, Ready, Receiver};
use crate::guard::Guard;
use crate::handoff_server::HandoffServer;
use crate::instance::{Event, Instance, Start};
use crate::options::{SetupError, KILL_AFTER, MAX_RETURN, TICK};
use crate::process::Exit;
use crate::transport::{self, Transport};
use crate::workers::Workers;
use faasin::handoff;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A function must ask for its first invocation within this long of its
/// start, and for its next one (or the END) within this long of finishing.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a function may pause in the middle of sending its return value.
const RESULT_STALL: Duration = Duration::from_secs(5);

pub struct WarmChain<'a> {
    pub chain: &'a Chain,
    pub instances: Vec<Instance>,
    /// Why not every instance could be started.
    pub start_error: Option<String>,
    transport: Transport,
    rx: Receiver<Event>,
    /// Per edge, the ring memory its streams reuse from one invocation to
    /// the next (fresh memory costs a page fault per page at first write).
    rings: Vec<Option<faasin::RingMemory>>,
    /// The next invocation's streams, made at the end of the previous one
    /// while the functions ask for it (every end of the previous streams is
    /// closed by then, see [`WarmChain::edge`]), so that an invocation
    /// starts with its grants.
    next_edges: Option<Vec<(OwnedFd, OwnedFd)>>,
    /// One worker per blocking job of an invocation: its feeder and its
    /// output pump (return values are read by the invocation's thread).
    pub workers: Workers,
    /// The whole run's deadline.
    deadline: Option<Instant>,
    start: Instant,
}

/// How a warm chain is started.
pub struct Setup<'a> {
    pub transport: Transport,
    pub server: &'a HandoffServer,
    pub guard: &'a mut Guard,
    pub docker: &'a str,
    pub run_id: &'a str,
    pub timeout: Option<Duration>,
}

impl<'a> WarmChain<'a> {
    /// Starts an instance of every function, in chain order; the first that
    /// cannot be started stops the rest (see [`WarmChain::start_error`]).
    /// Err: nothing could be set up, and nothing was started.
    pub fn start(chain: &'a Chain, setup: Setup<'_>) -> Result<WarmChain<'a>, SetupError> {
        let (tx, rx) = events::channel::<Event>()
            .map_err(|e| SetupError(format!("cannot make the runner's event channel: {e}")))?;
        let workers = Workers::new(2)
            .map_err(|e| SetupError(format!("cannot start the runner's threads: {e}")))?;
        let start = Instant::now();
        let mut w = WarmChain {
            chain,
            instances: Vec::with_capacity(chain.functions.len()),
            start_error: None,
            transport: setup.transport,
            rx,
            rings: (0..=chain.functions.len()).map(|_| None).collect(),
            next_edges: None,
            workers,
            deadline: setup.timeout.map(|t| start + t),
            start,
        };
        for (i, f) in chain.functions.iter().enumerate() {
            let at = Start {
                server: setup.server,
                guard: &mut *setup.guard,
                docker: setup.docker,
                container: containers::name(f, setup.run_id, i),
                events: tx.clone(),
            };
            match Instance::start(f, i, at) {
                Ok(inst) => w.instances.push(inst),
                Err(e) => {
                    w.start_error = Some(e);
                    break;
                }
            }
        }
        Ok(w)
    }

    pub fn started_at(&self) -> Instant {
        self.start
    }

    /// Edge `i` of an invocation: (read end, write end). Over FAASIN, a new
    /// stream on the edge's ring memory: every end of the edge's previous
    /// stream is closed by then (each function closes its ends before it
    /// sends its return value, and the runner's pumps end before the
    /// invocation does), and its parties are the same two functions.
    fn edge(&mut self, i: usize) -> io::Result<(OwnedFd, OwnedFd)> {
        let cap = self.chain.functions[i.saturating_sub(1)].capacity;
        match self.transport {
            Transport::Faasin => {
                let ring = match &mut self.rings[i] {
                    Some(r) => r,
                    slot => slot.insert(faasin::RingMemory::new(cap)?),
                };
                ring.endpoints()
            }
            _ => transport::os_pipe(),
        }
    }

    /// Every edge of an invocation: input, between functions, output.
    pub fn take_edges(&mut self) -> io::Result<Vec<(OwnedFd, OwnedFd)>> {
        if let Some(e) = self.next_edges.take() {
            return Ok(e);
        }
        (0..=self.chain.functions.len())
            .map(|i| self.edge(i))
            .collect()
    }

    /// Makes the next invocation's streams now, while the functions ask for
    /// it; every end of this invocation's streams must be closed.
    pub fn prepare_edges(&mut self) {
        self.next_edges = None;
        self.next_edges = self.take_edges().ok();
    }

    /// The next event, or why there will be none in time. Return values
    /// are read here, from the connections of the running invocations.
    pub fn next_event(&mut self, limit: Instant, what: &str) -> Result<Event, String> {
        let limit = self.deadline.map_or(limit, |d| d.min(limit));
        loop {
            if crate::signals::received().is_some() {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            if now >= limit {
                return Err(match self.deadline {
                    Some(d) if d <= limit => format!(
                        "timed out after {:.1} s",
                        d.duration_since(self.start).as_secs_f64()
                    ),
                    _ => format!("no progress while {what}"),
                });
            }
            let (waiting, fds): (Vec<usize>, Vec<BorrowedFd<'_>>) = (self.instances.iter())
                .enumerate()
                .filter_map(|(i, inst)| Some((i, inst.result_fd()?)))
                .unzip();
            let ready = self.rx.wait(&fds, (limit - now).min(TICK));
            drop(fds);
            match ready {
                Ready::Fd(k) => return self.read_result(waiting[k]),
                Ready::Message(Event::Exited(i, exit)) => return Ok(self.ended(i, exit, what)),
                Ready::Message(ev) => return Ok(ev),
                Ready::Timeout => {}
                Ready::Disconnected => return Err(format!("every function is gone while {what}")),
            }
        }
    }

    /// Instance `i`'s connection is readable: it is sending its value (or
    /// hung up); the value's pieces follow each other at once.
    fn read_result(&mut self, i: usize) -> Result<Event, String> {
        let conn = self.instances[i]
            .take_running()
            .expect("a waiting connection");
        let r = handoff::read_result_within(conn.as_fd(), MAX_RETURN, RESULT_STALL);
        let at = Instant::now();
        if matches!(&r, Ok(v) if v.stays) {
            // It waits there for its next invocation: asked.
            self.instances[i].asked(conn)?;
        }
        Ok(Event::Finished(i, r, at))
    }

    fn ended(&mut self, i: usize, exit: Exit, what: &str) -> Event {
        let status = exit.status.as_ref().ok().copied();
        let text = match &exit.status {
            Ok(st) => crate::report::status_text(st.code(), st.signal()),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        self.instances[i].exited(exit);
        // A clean exit here is a one-shot function (one that takes
        // faasin::input()/output() once).
        let hint = if status.is_some_and(|st| st.success()) {
            "; a warm function loops over faasin::invocations()"
        } else {
            ""
        };
        let name = &self.instances[i].name;
        Event::Ended(format!("{name} ended ({text}) while {what}{hint}"))
    }

    /// Waits until every instance has asked for its next invocation.
    pub fn wait_all_asked(&mut self) -> Result<(), String> {
        let limit = Instant::now() + ASK_TIMEOUT;
        while self.instances.iter().any(|f| !f.is_asking()) {
            match self.next_event(limit, "waiting for the functions to ask for an invocation")? {
                Event::Asked(i, c) => self.instances[i].asked(c)?,
                Event::Ended(e) => return Err(e),
                _ => return Err("a stray event between invocations".into()),
            }
        }
        Ok(())
    }

    /// A return value as the report shows it, or why there is none.
    pub fn result(
        &self,
        i: usize,
        r: io::Result<handoff::ReturnValue>,
    ) -> Result<serde_json::Value, String> {
        match r {
            Ok(v) => Ok(crate::report::return_value(&v.value)),
            Err(e) => Err(format!(
                "{} broke off its invocation before returning: {e}",
                self.instances[i].name
            )),
        }
    }

    /// The whole run's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Tells every instance that asks that there is no more work (or,
    /// after a failure, just stops them), then waits for them to exit:
    /// SIGTERM after `grace` (at most [`KILL_AFTER`]), then SIGKILL.
    pub fn end_all(&mut self, ok: bool, grace: Duration, docker: &str) {
        // An invocation still running is over for the runner.
        self.instances.iter_mut().for_each(Instance::abandon);
        let limit = Instant::now() + if ok { ASK_TIMEOUT } else { Duration::ZERO };
        loop {
            self.instances.iter_mut().for_each(Instance::end);
            if !self.instances.iter().any(Instance::alive) || Instant::now() >= limit {
                break;
            }
            match self.rx.recv_timeout(TICK) {
                Ok(Event::Asked(i, c)) => {
                    let _ = self.instances[i].asked(c);
                }
                Ok(Event::Exited(i, exit)) => self.instances[i].exited(exit),
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // A container still running is removed: its `docker run` client
        // dying (below) would not stop it.
        let left: Vec<&str> = self
            .instances
            .iter()
            .filter_map(Instance::live_container)
            .collect();
        containers::remove(&left, docker);
        let mut signal = libc::SIGTERM;
        let mut until = Instant::now() + grace.min(KILL_AFTER);
        while self.instances.iter().any(Instance::alive) {
            self.instances.iter().for_each(|f| f.signal(signal));
            while Instant::now() < until && self.instances.iter().any(Instance::alive) {
                if let Ok(Event::Exited(i, exit)) = self.rx.recv_timeout(TICK) {
                    self.instances[i].exited(exit);
                }
            }
            if signal == libc::SIGKILL {
                break;
            }
            signal = libc::SIGKILL;
            until = Instant::now() + KILL_AFTER;
        }
    }
}
