//! A one-shot run over a stored transport: the chain's input is stored,
//! each function runs as a process of its own once the one before it has
//! ended ([`crate::staged`]), and the last one's stored output is read back
//! as the chain's output.

use crate::chain::Chain;
use crate::guard::Guard;
use crate::handoff_server::random_token;
use crate::options::{Options, SetupError, KILL_AFTER, TICK};
use crate::process::{self, Exit};
use crate::report::{return_value, EdgeReport, FunctionReport, Report};
use crate::run_io::RunIo;
use crate::signals;
use crate::staged::{run_stages, Handed, Ran, Sink, Source, StageEnds, Stages};
use crate::store::{Store, StoreOp};
use crate::supervise::Slot;
use crate::workers::Workers;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Starts each stage's function as a process and waits for it, minding
/// signals and the run's timeout.
struct ProcessStages<'a> {
    chain: &'a Chain,
    opts: &'a Options,
    guard: Guard,
    start: Instant,
    slots: Vec<Slot>,
    /// Why the runner stopped the chain, if it did.
    reason: Option<String>,
}

pub fn run(chain: &Chain, opts: &Options) -> Result<Report, SetupError> {
    if let Some(f) = chain
        .functions
        .iter()
        .find(|f| f.image.is_some() || f.handoff)
    {
        return Err(SetupError(format!(
            "function {:?}: --transport {} runs processes that inherit their streams; containers and handoff are not supported there",
            f.name,
            opts.transport.name()
        )));
    }
    let RunIo { mut input, output } = RunIo::open(opts)?;
    // The whole input comes first, as an event payload does, and before
    // anything is started: a Ctrl-C while it is typed leaves nothing behind.
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| SetupError(format!("reading the input failed: {e}")))?;
    drop(input);
    let run_id = random_token()[..8].to_string();
    let store = Store::open(
        opts.transport,
        opts.redis.as_deref(),
        opts.store_dir.as_deref(),
        &run_id,
    )?;
    let workers = Workers::new(2)
        .map_err(|e| SetupError(format!("cannot start the runner's threads: {e}")))?;
    let start = Instant::now();
    let started_unix_s = crate::report::unix_now();
    signals::install();
    let mut guard = Guard::start(&opts.docker, &run_id);
    if let Some(pid) = store.server_pid() {
        guard.group(pid);
    }
    let stages = ProcessStages {
        chain,
        opts,
        guard,
        start,
        slots: Slot::each_of(chain),
        reason: None,
    };
    let run = StoredRun {
        store,
        stages,
        output,
        workers,
        notes: Vec::new(),
        store_error: None,
        ops: (0..=chain.functions.len())
            .map(|edge| StoreOp {
                edge,
                put_s: None,
                get_s: None,
            })
            .collect(),
    };
    Ok(run.go(data, started_unix_s))
}

struct StoredRun<'a> {
    store: Store,
    stages: ProcessStages<'a>,
    output: Box<dyn Write + Send>,
    workers: Workers,
    notes: Vec<String>,
    store_error: Option<String>,
    /// One per edge, as the report shows them.
    ops: Vec<StoreOp>,
}

impl StoredRun<'_> {
    fn go(mut self, data: Vec<u8>, started_unix_s: f64) -> Report {
        let chain = self.stages.chain;
        let n = chain.functions.len();
        let input_bytes = data.len() as u64;
        let t = Instant::now();
        let stored = self.store.slot(0).put(&data);
        self.ops[0].put_s = Some(t.elapsed().as_secs_f64());
        drop(data);
        let handed = match stored {
            Err(e) => {
                self.store_error = Some(format!("storing the chain's input failed: {e}"));
                Vec::new()
            }
            Ok(()) => {
                let capacities: Vec<usize> = chain.functions.iter().map(|f| f.capacity).collect();
                run_stages(
                    &self.store,
                    Source::Stored(0),
                    Sink::Stored(n),
                    &capacities,
                    &self.workers,
                    &mut self.stages,
                )
            }
        };
        self.record(&handed);
        let output_bytes = self.pass_output_on(&handed);
        // The chain is over when its output is out; clearing the store and
        // stopping a private redis-server are not part of it.
        let elapsed_s = self.stages.start.elapsed().as_secs_f64();
        self.stages.guard.done();
        let store_json = self.store.describe(&self.ops);
        self.store.clear(n);
        let report = self.report(
            &handed,
            input_bytes,
            output_bytes,
            elapsed_s,
            started_unix_s,
        );
        Report {
            store: Some(store_json),
            ..report
        }
    }

    /// Store timings and failures, per stage.
    fn record(&mut self, handed: &[Handed]) {
        for (i, h) in handed.iter().enumerate() {
            self.ops[i].get_s = self.ops[i].get_s.or(h.get_s);
            self.ops[i + 1].put_s = h.put_s;
            if let (Some(e), None) = (&h.error, &self.store_error) {
                let name = &self.stages.chain.functions[i].name;
                self.store_error = Some(format!("function {} {name:?}: {e}", i + 1));
            }
        }
    }

    /// When every function succeeded, reads the last output back and writes
    /// it out; returns how many bytes went out.
    fn pass_output_on(&mut self, handed: &[Handed]) -> u64 {
        let n = self.stages.chain.functions.len();
        let finished = self
            .stages
            .slots
            .iter()
            .all(|s| s.status.is_some_and(|s| s.success()));
        if !finished
            || handed.len() < n
            || self.store_error.is_some()
            || self.stages.reason.is_some()
        {
            return 0;
        }
        let t = Instant::now();
        let v = match self.store.slot(n).get() {
            Ok(v) => v,
            Err(e) => {
                self.store_error = Some(format!("reading the chain's output back failed: {e}"));
                return 0;
            }
        };
        self.ops[n].get_s = Some(t.elapsed().as_secs_f64());
        match self.output.write_all(&v).and_then(|_| self.output.flush()) {
            Ok(()) => return v.len() as u64,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self
                .notes
                .push("the output was closed before the chain ended (EPIPE)".to_string()),
            Err(e) => self.notes.push(format!("writing the output failed: {e}")),
        }
        0
    }
}

impl StoredRun<'_> {
    fn report(
        &self,
        handed: &[Handed],
        input_bytes: u64,
        output_bytes: u64,
        elapsed_s: f64,
        started_unix_s: f64,
    ) -> Report {
        let chain = self.stages.chain;
        let n = chain.functions.len();
        let secs =
            |t: Option<Instant>| t.map(|t| t.duration_since(self.stages.start).as_secs_f64());
        let functions = (0..n)
            .map(|i| self.function_report(i, handed.get(i), &secs))
            .collect();
        // Per edge: bytes stored on it and bytes fed from it.
        let written = |i: usize| match i {
            0 => Some(input_bytes),
            i => handed.get(i - 1).and_then(|h| h.bytes_out),
        };
        let consumed = |i: usize| match handed.get(i) {
            Some(h) => h.bytes_in,
            None if i == n && output_bytes > 0 => Some(output_bytes),
            None => None,
        };
        let edges = (0..=n)
            .map(|i| {
                let (from, to) = chain.edge_ends(i);
                EdgeReport {
                    from,
                    to,
                    capacity: chain.functions[i.saturating_sub(1)].capacity,
                    written: written(i),
                    consumed: consumed(i),
                }
            })
            .collect();
        let failures = crate::oneshot_report::failures(chain, &self.stages.slots);
        let error = (self.stages.reason.clone())
            .or(self.store_error.clone())
            .or(failures)
            .or_else(|| self.notes.first().cloned());
        Report {
            ok: error.is_none(),
            error,
            interrupted_by: signals::received(),
            transport: self.stages.opts.transport.name().into(),
            started_unix_s,
            elapsed_s,
            input_bytes,
            output_bytes,
            refused_handoffs: 0,
            runner_max_rss_bytes: process::peak_rss(None),
            store: None,
            notes: self.notes.clone(),
            functions,
            edges,
        }
    }

    fn function_report(
        &self,
        i: usize,
        h: Option<&Handed>,
        secs: &dyn Fn(Option<Instant>) -> Option<f64>,
    ) -> FunctionReport {
        let f = &self.stages.chain.functions[i];
        let s = &self.stages.slots[i];
        let mut notes = s.notes.clone();
        notes.extend(h.iter().flat_map(|h| h.notes.iter().cloned()));
        if s.start.is_none() && s.error.is_none() {
            notes.push("not started: the chain stopped before it".into());
        }
        FunctionReport {
            name: f.name.clone(),
            kind: "process".into(),
            command: f.command.display(),
            image: None,
            container: None,
            stdio: f.stdio,
            handoff: false,
            ok: !s.failed() && s.status.is_some(),
            exit_code: s.status.and_then(|st| st.code()),
            signal: s.status.and_then(|st| st.signal()),
            error: s.error.clone(),
            killed_by_runner: s.killed,
            return_value: s.returned.as_deref().map(return_value),
            start_s: secs(s.start),
            handoff_s: None,
            first_byte_s: secs(h.and_then(|h| h.first_out)),
            first_in_s: secs(h.and_then(|h| h.first_in)),
            end_s: secs(s.end),
            bytes_in: h.and_then(|h| h.bytes_in),
            bytes_out: h.and_then(|h| h.bytes_out),
            max_rss_bytes: s.max_rss,
            notes,
        }
    }
}

impl Stages for ProcessStages<'_> {
    fn run(&mut self, i: usize, ends: StageEnds, tick: &mut dyn FnMut()) -> Ran {
        let started = Instant::now();
        if self.reason.is_some() {
            return Ran { started, ok: false };
        }
        let f = &self.chain.functions[i];
        let mut cmd = process::command(f, None, None, &self.opts.docker);
        cmd.stderr(Stdio::inherit());
        let StageEnds { input, output } = ends;
        let mut inherited = None;
        if f.stdio {
            cmd.stdin(Stdio::from(input)).stdout(Stdio::from(output));
        } else {
            cmd.stdin(Stdio::null()).stdout(Stdio::piped());
            process::place_ends(&mut cmd, input.as_raw_fd(), output.as_raw_fd());
            inherited = Some((input, output));
        }
        let (tx, rx) = mpsc::channel::<Exit>();
        let started = Instant::now();
        self.slots[i].start = Some(started);
        let spawned = process::spawn(cmd, &mut self.guard, None, move |e| {
            let _ = tx.send(e);
        });
        // The function holds the only copies of its ends now: its exit is
        // EOF for the collector and EPIPE for the feeder.
        drop(inherited);
        let slot = &mut self.slots[i];
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                slot.end = slot.start;
                slot.error = Some(format!("could not start {:?}: {e}", f.command.argv()[0]));
                return Ran { started, ok: false };
            }
        };
        slot.pid = Some(child.pid);
        let ret = child
            .stdout
            .take()
            .map(|mut o| std::thread::spawn(move || process::read_return(&mut o)));
        let exit = self.wait(i, &rx, tick);
        let slot = &mut self.slots[i];
        slot.exited(exit);
        if let Some(r) = ret.and_then(|h| h.join().ok()) {
            slot.returned(r);
        }
        let ok = !slot.failed() && self.reason.is_none();
        Ran { started, ok }
    }
}

impl ProcessStages<'_> {
    /// Waits for function `i` to exit; a signal or the run's timeout stops
    /// it (SIGTERM, then SIGKILL).
    fn wait(&mut self, i: usize, rx: &mpsc::Receiver<Exit>, tick: &mut dyn FnMut()) -> Exit {
        let pid = self.slots[i].pid.expect("started");
        let mut seen_signals = signals::count();
        let mut kill_at: Option<Instant> = None;
        loop {
            match rx.recv_timeout(TICK) {
                Ok(exit) => return exit,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Exit {
                        status: Err(io::Error::other("lost the wait thread")),
                        max_rss: None,
                        at: Instant::now(),
                    }
                }
            }
            tick();
            let now = Instant::now();
            let mut stop = None;
            let sigs = signals::count();
            if sigs > seen_signals {
                seen_signals = sigs;
                let sig = signals::received().unwrap_or(libc::SIGINT);
                stop = Some(format!("interrupted by {}", signals::name(sig)));
            }
            if let (Some(t), None) = (self.opts.timeout, &self.reason) {
                if now.duration_since(self.start) >= t {
                    stop = Some(format!("the chain timed out after {} s", t.as_secs_f64()));
                }
            }
            if let Some(why) = stop {
                if self.reason.is_none() {
                    self.reason = Some(why);
                    process::signal_group(pid, libc::SIGTERM);
                    self.slots[i].killed = true;
                    kill_at = Some(now + KILL_AFTER);
                } else {
                    kill_at = Some(now);
                }
            }
            if kill_at.is_some_and(|t| now >= t) {
                process::signal_group(pid, libc::SIGKILL);
                kill_at = Some(now + Duration::from_secs(3600));
            }
        }
    }
}
