//! One invocation on a warm chain: fresh streams between its instances,
//! the payload fed to the first, the last one's output passed on, and every
//! return value collected. Over rings and pipes every instance gets its
//! ends at once and they stream; over a store each one runs after the one
//! before has ended ([`crate::staged`]).

use crate::options::TICK;
use crate::pumps::{self, Meter};
use crate::report::{unix_now, InvocationReport};
use crate::staged::{ops_of, run_stages, Ran, Sink, Source, StageEnds, Stages};
use crate::store::{Store, StoreOp};
use crate::warm_chain::{ChainEvent, WarmChain};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Where an invocation's output goes, lent to the output pump while the
/// invocation runs.
pub type Output = Box<dyn Write + Send>;

/// What the output pump hands back.
struct Drained {
    bytes: io::Result<u64>,
    output: Output,
    at: Instant,
}

/// When one instance breaks off, its neighbours usually follow (EOF,
/// EPIPE): their reports are gathered for a moment, so that the message
/// names every instance that broke off, the cause among them.
#[derive(Default)]
struct Broken {
    messages: Vec<String>,
    limit: Option<Instant>,
    /// An instance's exit is among the messages.
    exited: bool,
}

impl Broken {
    fn add(&mut self, e: String) {
        self.limit
            .get_or_insert_with(|| Instant::now() + Duration::from_millis(200));
        self.messages.push(e);
    }

    fn ended(&mut self, e: String) {
        self.exited = true;
        self.add(e);
    }
}

/// One invocation over rings or pipes: every instance at once.
pub fn streamed(
    w: &mut WarmChain<'_>,
    input: Box<dyn Read + Send>,
    output: &mut Output,
) -> Result<InvocationReport, String> {
    let edges = w
        .take_edges()
        .map_err(|e| format!("cannot create a stream: {e}"))?;
    let kept_edges = edges
        .iter()
        .filter(|(r, w)| r.is_none() && w.is_none())
        .count();
    let mut report = streamed_on(w, Ends::of_chain(edges), input, output).inspect_err(|_| {
        // Whatever an instance kept of this invocation's streams is not to
        // be trusted for the next one.
        w.forget_kept();
    })?;
    // Every end of this invocation's streams is closed now: the next
    // invocation's can be made while the instances ask for it.
    w.prepare_edges();
    report.kept_edges = kept_edges;
    Ok(report)
}

/// The fds of one streamed invocation. Instance `i` reads `instances[i].0`
/// and writes `instances[i].1`; neighbours need not share a stream (an
/// edge to another host is a socket whose other end is elsewhere). `None`:
/// the instance restarts the end it kept from the last invocation (see
/// `WarmChain::take_edges`).
pub struct Ends {
    pub instances: Vec<(Option<OwnedFd>, Option<OwnedFd>)>,
    /// Where the runner feeds the input, if it does.
    pub feed: Option<OwnedFd>,
    /// Where the runner drains the output from, if it does.
    pub drain: Option<OwnedFd>,
}

impl Ends {
    /// A chain's edges (read end, write end): function `i` reads edge `i`
    /// and writes edge `i + 1`, the runner feeds the first and drains the
    /// last.
    pub fn of_chain(edges: Vec<(Option<OwnedFd>, Option<OwnedFd>)>) -> Ends {
        let mut reads = Vec::with_capacity(edges.len());
        let mut writes = Vec::with_capacity(edges.len());
        for (r, w) in edges {
            reads.push(r);
            writes.push(w);
        }
        let feed = (!writes.is_empty()).then(|| writes.remove(0)).flatten();
        let drain = reads.pop().flatten();
        Ends {
            instances: reads.into_iter().zip(writes).collect(),
            feed,
            drain,
        }
    }
}

/// One invocation on the given ends: every instance at once. Without a
/// feed the input is not read; without a drain the output gets nothing.
pub fn streamed_on(
    w: &mut WarmChain<'_>,
    ends: Ends,
    input: Box<dyn Read + Send>,
    output: &mut Output,
) -> Result<InvocationReport, String> {
    let started_unix_s = unix_now();
    let t0 = Instant::now();
    let fed = ends.feed.map(|feed| start_feeder(w, input, feed));
    let drained = ends.drain.map(|drain| {
        let dst = std::mem::replace(output, Box::new(io::sink()));
        start_drain(w, drain, dst)
    });
    // Last instance first: each reader is on its way before its writer
    // starts, so a writer that fills its ring does not take the CPU its
    // reader needs to start.
    for (i, (inp, out)) in ends.instances.into_iter().enumerate().rev() {
        w.grant(i, inp, out)?;
    }
    let (finished, values) = collect_results(w, t0)?;
    let (mut end, mut out_len) = (0.0, 0);
    if let Some(drained) = drained {
        let done = wait_output(w, &drained)?;
        *output = done.output;
        out_len = done
            .bytes
            .map_err(|e| format!("passing the output on failed: {e}"))?;
        end = done.at.duration_since(t0).as_secs_f64();
    }
    match fed.map(|f| f.recv()) {
        None | Some(Ok(Ok(()))) => {}
        Some(Ok(Err(e))) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Some(Ok(Err(e))) => return Err(format!("feeding the input failed: {e}")),
        Some(Err(_)) => return Err("the input thread panicked".into()),
    }
    let end = finished.iter().copied().fold(end, f64::max);
    Ok(InvocationReport {
        started_unix_s,
        elapsed_s: end,
        finished_s: finished,
        return_values: values,
        output_bytes: out_len,
        kept_edges: 0,
    })
}

/// The runner's own ends do not spin: on two CPUs a spinning runner
/// thread takes the CPU a function needs to start or to run.
fn start_feeder(
    w: &WarmChain<'_>,
    mut input: Box<dyn Read + Send>,
    feed: OwnedFd,
) -> mpsc::Receiver<io::Result<()>> {
    let (tx, rx) = mpsc::channel();
    w.workers.run(move || {
        let r = faasin::Writer::from_fd(feed).and_then(|mut wr| {
            wr.set_spin(Duration::ZERO);
            pumps::into_stream(&mut *input, wr, &Meter::new(Instant::now()))
        });
        let _ = tx.send(r);
    });
    rx
}

/// The output streams to its destination as it comes; the reader is closed
/// (moved into the pump) before the invocation can end, as the next
/// invocation reuses its ring memory.
fn start_drain(w: &WarmChain<'_>, drain: OwnedFd, mut dst: Output) -> mpsc::Receiver<Drained> {
    let (tx, rx) = mpsc::channel();
    w.workers.run(move || {
        let meter = Meter::new(Instant::now());
        let bytes = faasin::Reader::from_fd(drain)
            .and_then(|mut r| {
                r.set_spin(Duration::ZERO);
                pumps::from_stream(r, &mut *dst, &meter)
            })
            .map(|()| meter.bytes());
        let _ = tx.send(Drained {
            bytes,
            output: dst,
            at: Instant::now(),
        });
    });
    rx
}

/// Every instance's return value: seconds from `t0` to each, and the values.
fn collect_results(
    w: &mut WarmChain<'_>,
    t0: Instant,
) -> Result<(Vec<f64>, Vec<serde_json::Value>), String> {
    let n = w.instances.len();
    let mut finished = vec![None; n];
    let mut values = vec![serde_json::Value::Null; n];
    let mut broken = Broken::default();
    while finished.iter().any(Option::is_none) {
        let limit = broken
            .limit
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600));
        let ev = match w.next_event(limit, "an invocation ran") {
            Ok(ev) => ev,
            Err(_) if !broken.messages.is_empty() => break,
            Err(e) => return Err(e),
        };
        match ev {
            ChainEvent::Finished(i, r, at) => {
                finished[i] = Some(at.duration_since(t0).as_secs_f64());
                match w.result(i, r) {
                    Ok(v) => values[i] = v,
                    Err(e) => broken.add(e),
                }
            }
            ChainEvent::Ended(e) => broken.ended(e),
            ChainEvent::Asked(_) => {}
        }
    }
    if !broken.messages.is_empty() {
        wait_for_exits(w, &mut broken);
        return Err(broken.messages.join("; "));
    }
    Ok((finished.into_iter().flatten().collect(), values))
}

/// An instance that broke off usually exits right after: its status is
/// worth waiting for, briefly.
fn wait_for_exits(w: &mut WarmChain<'_>, broken: &mut Broken) {
    let limit = broken.limit.unwrap_or_else(Instant::now);
    while Instant::now() < limit && !broken.exited {
        match w.next_event(limit, "an invocation broke off") {
            Ok(ChainEvent::Ended(e)) => broken.ended(e),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn wait_output(w: &WarmChain<'_>, drained: &mpsc::Receiver<Drained>) -> Result<Drained, String> {
    loop {
        match drained.recv_timeout(TICK) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(why) = w.stopped() {
                    return Err(format!("{why} waiting for the output"));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the output thread died".into())
            }
        }
    }
}

/// Grants each stage's ends to its instance and waits for its return value.
struct InstanceStages<'w, 'a> {
    w: &'w mut WarmChain<'a>,
    t0: Instant,
    finished: Vec<f64>,
    values: Vec<serde_json::Value>,
    error: Option<String>,
}

impl Stages for InstanceStages<'_, '_> {
    fn run(&mut self, i: usize, ends: StageEnds, _tick: &mut dyn FnMut()) -> Ran {
        let started = Instant::now();
        let ok = match self.run_one(i, ends) {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(e);
                false
            }
        };
        Ran { started, ok }
    }
}

impl InstanceStages<'_, '_> {
    fn run_one(&mut self, i: usize, ends: StageEnds) -> Result<(), String> {
        self.w.grant(i, Some(ends.input), Some(ends.output))?;
        let limit = Instant::now() + Duration::from_secs(24 * 3600);
        loop {
            match self.w.next_event(limit, "an invocation ran")? {
                ChainEvent::Finished(j, r, at) if j == i => {
                    self.values.push(self.w.result(i, r)?);
                    self.finished.push(at.duration_since(self.t0).as_secs_f64());
                    return Ok(());
                }
                ChainEvent::Asked(_) => {}
                ChainEvent::Ended(e) => return Err(e),
                ChainEvent::Finished(..) => return Err("a stray return value".into()),
            }
        }
    }
}

/// One invocation through a store: an instance runs once the one before
/// has ended and its whole output is stored, and reads it back from there.
pub fn staged(
    w: &mut WarmChain<'_>,
    store: &Store,
    input: Arc<[u8]>,
    output: &mut Output,
    ops: &mut Vec<StoreOp>,
) -> Result<InvocationReport, String> {
    let started_unix_s = unix_now();
    let t0 = Instant::now();
    let capacities: Vec<usize> = w.chain.functions.iter().map(|f| f.capacity).collect();
    let workers = w.workers.clone();
    let mut stages = InstanceStages {
        w,
        t0,
        finished: Vec::new(),
        values: Vec::new(),
        error: None,
    };
    let handed = run_stages(
        store,
        Source::Memory(input),
        Sink::Memory,
        &capacities,
        &workers,
        &mut stages,
    );
    ops.extend(ops_of(&handed));
    if let Some(e) = stages.error {
        return Err(e);
    }
    for (h, inst) in handed.iter().zip(&stages.w.instances) {
        if let Some(e) = &h.error {
            return Err(format!("{}: {e}", inst.name));
        }
    }
    let out = handed
        .last()
        .and_then(|h| h.output.as_deref())
        .unwrap_or(&[]);
    output
        .write_all(out)
        .map_err(|e| format!("writing the output failed: {e}"))?;
    Ok(InvocationReport {
        started_unix_s,
        elapsed_s: t0.elapsed().as_secs_f64(),
        finished_s: stages.finished,
        return_values: stages.values,
        output_bytes: out.len() as u64,
        kept_edges: 0,
    })
}
