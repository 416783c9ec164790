//! A warm chain: one [`Instance`] of each function of a chain, kept between
//! invocations, with the stream memory its edges reuse. An invocation runs
//! on a warm chain (module `invocation`); a service that runs several at
//! once keeps several warm chains.

use crate::chain::Chain;
use crate::containers;
use crate::guard::Guard;
use crate::handoff_server::HandoffServer;
use crate::instance::{wait_any, Event, Instance, Start};
use crate::options::{SetupError, KILL_AFTER, TICK};
use crate::transport::{self, Transport};
use crate::workers::Workers;
use faasin::handoff::{self, GrantEnd, Reuse};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A function must ask for its first invocation within this long of its
/// start, and for its next one (or the END) within this long of finishing.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the instances of a warm chain tell the one who runs it.
pub enum ChainEvent {
    /// Instance `i` asked for an invocation.
    Asked(usize),
    /// Instance `i`'s return value arrived (or its connection broke).
    Finished(usize, io::Result<handoff::ReturnValue>, Instant),
    /// An instance's process ended: the message that says so.
    Ended(String),
}

/// How the edge from `writer` to `reader` is granted (see
/// [`WarmChain::take_edges`]).
fn reuse_between(writer: &Instance, reader: &Instance) -> Reuse {
    if !(writer.restartable && reader.restartable) {
        Reuse::No
    } else if writer.kept[1] == Some(reader.id) && reader.kept[0] == Some(writer.id) {
        Reuse::Restart
    } else {
        Reuse::Keep
    }
}

/// Whether either of the two keeps an end of an edge between them.
fn keeps_with(writer: &Instance, reader: &Instance) -> bool {
    writer.kept[1] == Some(reader.id) || reader.kept[0] == Some(writer.id)
}

/// How an end that is (or is not) there is granted as `reuse` asks.
fn grant_end(reuse: Reuse, fd: Option<&OwnedFd>) -> Option<GrantEnd<'_>> {
    match (reuse, fd) {
        (Reuse::Restart, None) => Some(GrantEnd::Restart),
        (Reuse::No, Some(fd)) => Some(GrantEnd::Fd(fd.as_fd())),
        (Reuse::Keep, Some(fd)) => Some(GrantEnd::Keep(fd.as_fd())),
        _ => None,
    }
}

pub struct WarmChain<'a> {
    pub chain: &'a Chain,
    pub instances: Vec<Instance>,
    /// Why not every instance could be started.
    pub start_error: Option<String>,
    transport: Transport,
    /// Per edge, the ring memory its streams reuse from one invocation to
    /// the next (fresh memory costs a page fault per page at first write).
    rings: Vec<Option<faasin::RingMemory>>,
    /// The next invocation's streams, made at the end of the previous one
    /// while the functions ask for it (every end of the previous streams is
    /// closed by then, see [`WarmChain::edge`]), so that an invocation
    /// starts with its grants.
    next_edges: Option<Vec<(Option<OwnedFd>, Option<OwnedFd>)>>,
    /// One worker per blocking job of an invocation: its feeder and its
    /// output pump (return values are read by the invocation's thread).
    pub workers: Workers,
    /// The whole run's deadline.
    deadline: Option<Instant>,
    start: Instant,
    /// Set by someone else to stop what runs (a client that went away).
    cancel: Option<Arc<AtomicBool>>,
    /// The parameters granted with each invocation's streams (empty: none).
    params: Vec<u8>,
    /// Whether the edges between its instances may be kept from one
    /// invocation to the next (FAASIN rings; see `take_edges`).
    keeps: bool,
    /// Per edge, what its ends are granted as (see `take_edges`).
    reuse: Vec<Reuse>,
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
        let workers = Workers::new(2)
            .map_err(|e| SetupError(format!("cannot start the runner's threads: {e}")))?;
        let start = Instant::now();
        let mut w = WarmChain {
            chain,
            instances: Vec::with_capacity(chain.functions.len()),
            start_error: None,
            transport: setup.transport,
            rings: (0..=chain.functions.len()).map(|_| None).collect(),
            next_edges: None,
            workers,
            deadline: setup.timeout.map(|t| start + t),
            start,
            cancel: None,
            params: Vec::new(),
            keeps: setup.transport == Transport::Faasin,
            reuse: vec![Reuse::No; chain.functions.len() + 1],
        };
        for (i, f) in chain.functions.iter().enumerate() {
            let at = Start {
                server: setup.server,
                guard: &mut *setup.guard,
                docker: setup.docker,
                container: containers::name(f, setup.run_id, i),
                log: None,
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

    /// A warm chain of instances started elsewhere (a platform's pools),
    /// each asking for an invocation; `deadline` bounds what runs on it.
    /// `rings` (one per edge, or none) is ring memory to open its streams
    /// on: memory an edge's same two parties used before, whose every end
    /// is closed (a kept mapping can read what later flows through it).
    pub fn assemble(
        chain: &'a Chain,
        instances: Vec<Instance>,
        rings: Vec<Option<faasin::RingMemory>>,
        transport: Transport,
        workers: Workers,
        deadline: Option<Instant>,
        cancel: Option<Arc<AtomicBool>>,
    ) -> WarmChain<'a> {
        let mut rings = rings;
        rings.resize_with(instances.len() + 1, || None);
        let n = instances.len();
        WarmChain {
            keeps: transport == Transport::Faasin,
            reuse: vec![Reuse::No; n + 1],
            chain,
            rings,
            instances,
            start_error: None,
            transport,
            next_edges: None,
            workers,
            deadline,
            start: Instant::now(),
            cancel,
            params: Vec::new(),
        }
    }

    /// The parameters of the invocations that follow, until set again
    /// (UTF-8, JSON by convention; empty: none, as at the start): every
    /// instance gets them with its streams. Err: they cannot go with a
    /// grant (over `faasin::handoff::MAX_PARAMS` bytes, or not UTF-8), and
    /// the last ones stay.
    pub fn set_params(&mut self, params: Vec<u8>) -> Result<(), String> {
        handoff::check_params(&params).map_err(|e| format!("invocation {e}"))?;
        self.params = params;
        Ok(())
    }

    /// Hands instance `i` an invocation's ends, with the parameters: the
    /// fds of fresh ends, `None` for an end it kept (see `take_edges`).
    pub fn grant(
        &mut self,
        i: usize,
        input: Option<OwnedFd>,
        output: Option<OwnedFd>,
    ) -> Result<(), String> {
        let (Some(input_end), Some(output_end)) = (
            grant_end(self.reuse[i], input.as_ref()),
            grant_end(self.reuse[i + 1], output.as_ref()),
        ) else {
            return Err(format!(
                "{}: an end of its invocation does not match its grant",
                self.instances[i].name
            ));
        };
        // Our copies of the fds close on return, so that its exit is seen by
        // its neighbours as EOF or a broken pipe.
        self.instances[i].grant(input_end, output_end, &self.params)?;
        // What it keeps now, and with whom.
        let n = self.instances.len();
        for (side, edge, peer) in [(0, i, i.checked_sub(1)), (1, i + 1, Some(i + 1))] {
            let peer = peer.filter(|&p| p < n).map(|p| self.instances[p].id);
            let kept = &mut self.instances[i].kept[side];
            match self.reuse[edge] {
                Reuse::No => *kept = None,
                Reuse::Keep => *kept = peer,
                Reuse::Restart => {}
            }
        }
        Ok(())
    }

    /// Nothing an instance kept of the last invocation's streams is
    /// restarted: after an invocation that failed, every edge is fresh.
    pub fn forget_kept(&mut self) {
        self.instances
            .iter_mut()
            .for_each(|f| f.restartable = false);
    }

    /// The instances back, for whoever lent them, and each edge's ring
    /// memory, for the same parties' next streams.
    pub fn into_parts(self) -> (Vec<Instance>, Vec<Option<faasin::RingMemory>>) {
        (self.instances, self.rings)
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

    /// Every edge of an invocation: input, between functions, output. An
    /// edge between two instances that both said their kept ends can
    /// restart (`handoff::ReturnValue::restartable`) is kept: granted as
    /// ends to keep, and from then on restarted with no fds at all while
    /// the two meet again and still keep that edge of each other (see the
    /// `kept` module of the faasin crate); its place here is then `(None,
    /// None)`. The edges the runner feeds and drains, and every edge of a
    /// chain that does not keep any, are fresh.
    pub fn take_edges(&mut self) -> io::Result<Vec<(Option<OwnedFd>, Option<OwnedFd>)>> {
        if let Some(e) = self.next_edges.take() {
            return Ok(e);
        }
        let n = self.chain.functions.len();
        (0..=n)
            .map(|i| {
                let between = (1..n)
                    .contains(&i)
                    .then(|| (&self.instances[i - 1], &self.instances[i]));
                let reuse = match between {
                    Some((writer, reader)) if self.keeps => reuse_between(writer, reader),
                    _ => Reuse::No,
                };
                // The edge's memory, whose every stream has ended, is reused,
                // unless an end the two kept on it may still be open: one
                // that said it cannot restart may still hold it (an object
                // of a binding not yet closed, say).
                if reuse == Reuse::No && between.is_some_and(|(w, r)| keeps_with(w, r)) {
                    self.rings[i] = None;
                }
                self.reuse[i] = reuse;
                if reuse == Reuse::Restart {
                    return Ok((None, None));
                }
                let (r, w) = self.edge(i)?;
                Ok((Some(r), Some(w)))
            })
            .collect()
    }

    /// Makes the next invocation's streams now, while the functions ask for
    /// it; every end of this invocation's streams must be closed.
    pub fn prepare_edges(&mut self) {
        self.next_edges = None;
        self.next_edges = self.take_edges().ok();
    }

    /// The next event, or why there will be none in time.
    pub fn next_event(&mut self, limit: Instant, what: &str) -> Result<ChainEvent, String> {
        let limit = self.deadline.map_or(limit, |d| d.min(limit));
        loop {
            if let Some(why) = self.stopped() {
                return Err(why);
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
            match wait_any(&mut self.instances, (limit - now).min(TICK))? {
                None => {}
                Some((i, Event::Asked)) => return Ok(ChainEvent::Asked(i)),
                Some((i, Event::Finished(r, at))) => return Ok(ChainEvent::Finished(i, r, at)),
                Some((i, Event::Exited(st))) => return Ok(self.ended(i, st, what)),
            }
        }
    }

    fn ended(&self, i: usize, status: io::Result<ExitStatus>, what: &str) -> ChainEvent {
        let text = match &status {
            Ok(st) => crate::report::status_text(st.code(), st.signal()),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        // A clean exit here is a one-shot function (one that takes
        // faasin::input()/output() once).
        let hint = if status.is_ok_and(|st| st.success()) {
            "; a warm function loops over faasin::invocations()"
        } else {
            ""
        };
        let name = &self.instances[i].name;
        ChainEvent::Ended(format!("{name} ended ({text}) while {what}{hint}"))
    }

    /// Waits until every instance has asked for its next invocation.
    pub fn wait_all_asked(&mut self) -> Result<(), String> {
        let limit = Instant::now() + ASK_TIMEOUT;
        while self.instances.iter().any(|f| !f.is_asking()) {
            match self.next_event(limit, "waiting for the functions to ask for an invocation")? {
                ChainEvent::Asked(_) => {}
                ChainEvent::Ended(e) => return Err(e),
                ChainEvent::Finished(..) => return Err("a return value between invocations".into()),
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

    /// Why what runs must stop now, if it must: a signal to the runner,
    /// the deadline, or a cancel.
    pub fn stopped(&self) -> Option<String> {
        if crate::signals::received().is_some() {
            return Some("interrupted".into());
        }
        // Relaxed: a flag polled every tick; nothing is published through it.
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some("cancelled".into());
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(format!(
                "timed out after {:.1} s",
                d.duration_since(self.start).as_secs_f64()
            )),
            _ => None,
        }
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
            // Asks are answered (END) at the top of the loop; exits are
            // recorded by the instances themselves.
            if wait_any(&mut self.instances, TICK).is_err() {
                break;
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
                if wait_any(&mut self.instances, TICK).is_err() {
                    std::thread::sleep(TICK);
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
