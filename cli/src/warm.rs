//! `faasin run --warm N`: the chain's functions start once and serve N
//! invocations, as a platform keeps functions warm between calls. Each
//! function loops over `faasin::invocations()`; for every invocation it asks
//! the handoff socket for fresh stream ends and, when done, sends its return
//! value back on that connection.
//!
//! Over FAASIN rings (and plain pipes) every function of an invocation gets
//! its ends at once and they stream. Over Redis and files each function's
//! whole output is stored first, and the next function gets its ends only
//! then, as with the one-shot staged transports.

use crate::chain::Chain;
use crate::events::Ready;
use crate::handoff_server;
use crate::pumps;
use crate::runner::{self, Options, SetupError, Transport};
use crate::staged::Store;
use crate::workers::Workers;
use faasin::handoff;
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A function must ask for its first invocation within this long of its
/// start, and for its next one (or the END) within this long of finishing.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a function may pause in the middle of sending its return value.
const RESULT_STALL: Duration = Duration::from_secs(5);

#[derive(Serialize)]
pub struct WarmFunction {
    pub name: String,
    pub command: String,
    /// The container's name, for a function in one.
    pub container: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub max_rss_bytes: Option<u64>,
}

#[derive(Serialize)]
pub struct InvocationReport {
    /// Unix time the runner began the invocation: over rings and pipes its
    /// first grant (the streams were made at the end of the previous one),
    /// over a store its first store operation or grant.
    pub started_unix_s: f64,
    /// Until the last function sent its return value and the output ended.
    pub elapsed_s: f64,
    /// Seconds from the start to each function's return value.
    pub finished_s: Vec<f64>,
    /// Each function's return value (JSON if it parses, else text).
    pub return_values: Vec<serde_json::Value>,
    pub output_bytes: u64,
}

#[derive(Serialize)]
pub struct WarmReport {
    pub ok: bool,
    pub error: Option<String>,
    pub transport: String,
    pub warm_invocations: usize,
    /// From the first spawn until every function has exited.
    pub elapsed_s: f64,
    /// Until every function had asked for its first invocation.
    pub warm_up_s: Option<f64>,
    pub functions: Vec<WarmFunction>,
    pub invocations: Vec<InvocationReport>,
    pub store: Option<serde_json::Value>,
}

impl WarmReport {
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mut times: Vec<f64> = self.invocations.iter().map(|i| i.elapsed_s).collect();
        times.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (times.first(), times.last()) {
            s.push_str(&format!(
                "faasin: {} warm invocations over {}: median {:.2} ms ({:.2}-{:.2})\n",
                times.len(),
                self.transport,
                times[times.len() / 2] * 1e3,
                lo * 1e3,
                hi * 1e3
            ));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("faasin: FAILED: {e}\n"));
        }
        s
    }
}

enum Event {
    /// A function asked for an invocation (or the END).
    Asked(usize, OwnedFd),
    /// A function's return value arrived (or its connection broke).
    Finished(usize, io::Result<handoff::ReturnValue>, Instant),
    Exited(usize, io::Result<ExitStatus>, Option<u64>),
    /// Made by `next_event` from `Exited`: a function's process ended, with
    /// the message that says so.
    Ended(String),
}

struct Function {
    pid: Option<i32>,
    asked: Option<OwnedFd>,
    status: Option<ExitStatus>,
    rss: Option<u64>,
    /// The container's name, for a function in one.
    container: Option<String>,
}

impl Function {
    /// Records that the process was reaped.
    fn exited(&mut self, status: Option<ExitStatus>, rss: Option<u64>) {
        self.status = status;
        self.rss = rss;
        self.pid = None;
    }
}

pub fn run(chain: &Chain, opts: &Options, count: usize) -> Result<WarmReport, SetupError> {
    if count == 0 {
        return Err(SetupError("--warm needs at least one invocation".into()));
    }
    if let Some(f) = chain.functions.iter().find(|f| f.stdio) {
        return Err(SetupError(format!(
            "--warm runs functions that loop over faasin::invocations(); function {:?} is a stdio program",
            f.name
        )));
    }
    runner::check_images(chain, &opts.docker)?;
    if opts.transport == Transport::Faasin {
        // The runner's own ends (the feeder's and the output pump's) open
        // the first and last edge's ring memory again each invocation.
        faasin::keep_mappings();
    }
    // Read once, shared (not copied) by every invocation's feeder.
    let input: Arc<Vec<u8>> = Arc::new(match &opts.input {
        Some(p) => std::fs::read(p)
            .map_err(|e| SetupError(format!("cannot read input file {}: {e}", p.display())))?,
        None => Vec::new(),
    });
    let mut output = runner::open_output(opts)?;
    let run_id = handoff_server::random_token()[..8].to_string();
    let store = match opts.transport {
        Transport::Redis | Transport::File => Some(Store::open(opts, &run_id)?),
        Transport::Faasin | Transport::Pipe => None,
    };
    let dir = handoff_server::private_dir()
        .map_err(|e| SetupError(format!("cannot create the handoff directory: {e}")))?;
    let socket = dir.join(handoff_server::SOCKET_NAME);
    let listener = handoff::listen(&socket)
        .map_err(|e| SetupError(format!("cannot listen on {}: {e}", socket.display())))?;

    let n = chain.functions.len();
    let tokens: Vec<String> = (0..n).map(|_| handoff_server::random_token()).collect();
    let (tx, rx) = crate::events::channel::<Event>()
        .map_err(|e| SetupError(format!("cannot make the runner's event channel: {e}")))?;
    {
        let (tx, tokens) = (tx.clone(), tokens.clone());
        // Detached: it ends with the process (the listener is never closed
        // while the runner lives, and the directory is removed at the end).
        std::thread::spawn(move || accept_loop(listener, tokens, tx));
    }

    // One worker per blocking job of an invocation: its feeder and its
    // output pump (the return values are read by this thread, see
    // `next_event`). Started before the functions, so that failing to start
    // them leaves nothing running.
    let workers = Workers::new(2)
        .map_err(|e| SetupError(format!("cannot start the runner's threads: {e}")))?;
    crate::signals::install();
    let mut guard = crate::guard::Guard::start(&opts.docker, &run_id);
    let start = Instant::now();
    let mut funcs: Vec<Function> = Vec::with_capacity(n);
    let mut error = None;
    for (i, f) in chain.functions.iter().enumerate() {
        // A container gets the handoff directory bind-mounted and its
        // variables with -e; a process gets them in its environment.
        let container = runner::container_name(f, &run_id, i);
        let mut warm_fn = f.clone();
        // Each function waits for its next invocation on the connection
        // of its last one (see faasin::handoff).
        warm_fn
            .env
            .insert(faasin::ENV_WARM.into(), faasin::WARM_STAYS.into());
        let mut cmd = runner::build_command(
            &warm_fn,
            container.as_deref(),
            Some(runner::HandoffAt {
                dir: &dir,
                socket: &socket,
            }),
            Some(&tokens[i]),
            &opts.docker,
        );
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        // A warm function's stdout is not its return value (that comes per
        // invocation): it goes where its stderr goes.
        match runner::dup_std(2) {
            Ok(fd) => cmd.stdout(Stdio::from(fd)),
            Err(_) => cmd.stdout(Stdio::null()),
        };
        cmd.process_group(0);
        guard.mark(&mut cmd);
        runner::die_with_runner(&mut cmd);
        let mut func = Function {
            pid: None,
            asked: None,
            status: None,
            rss: None,
            container,
        };
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id() as i32;
                func.pid = Some(pid);
                guard.group(pid);
                if let Some(name) = &func.container {
                    guard.container(name);
                }
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let (st, rss) = runner::wait_rusage(pid);
                    drop(child);
                    tx.send(Event::Exited(i, st, rss));
                });
            }
            Err(e) => {
                error.get_or_insert(format!(
                    "could not start function {} ({}): {e}",
                    i + 1,
                    f.name
                ));
            }
        }
        funcs.push(func);
    }
    let deadline = opts.timeout.map(|t| start + t);
    drop(tx);
    let mut w = Warm {
        chain,
        results: (0..n).map(|_| None).collect(),
        funcs,
        rings: (0..=n).map(|_| None).collect(),
        next_edges: None,
        workers,
        rx,
        deadline,
        start,
    };
    let mut invocations = Vec::new();
    let mut ops = Vec::new();
    let mut warm_up_s = None;
    if error.is_none() {
        match w.wait_all_asked() {
            Ok(()) => warm_up_s = Some(start.elapsed().as_secs_f64()),
            Err(e) => error = Some(e),
        }
    }
    for k in 0..count {
        if error.is_some() {
            break;
        }
        let r = match &store {
            None => w.streamed(opts, &input, &mut output),
            Some(s) => w.staged(s, &input, &mut output, &mut ops),
        };
        match r {
            Ok(inv) => invocations.push(inv),
            Err(e) => error = Some(format!("invocation {}: {e}", k + 1)),
        }
        // The next invocation (or the END) is asked for right away.
        if error.is_none() && k + 1 < count {
            if let Err(e) = w.wait_all_asked() {
                error = Some(e);
            }
        }
    }
    w.end_all(error.is_none(), opts.grace, &opts.docker);
    guard.done();
    let _ = std::fs::remove_dir_all(&dir);
    let store_report = store.as_ref().map(|s| {
        s.clear(n);
        s.describe(&ops)
    });
    let functions = chain
        .functions
        .iter()
        .zip(&w.funcs)
        .map(|(f, s)| WarmFunction {
            name: f.name.clone(),
            command: f.command.display(),
            container: s.container.clone(),
            exit_code: s.status.and_then(|st| st.code()),
            signal: s.status.and_then(|st| st.signal()),
            max_rss_bytes: s.rss,
        })
        .collect::<Vec<_>>();
    if error.is_none() {
        if let Some((i, st)) = w
            .funcs
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.status.filter(|st| !st.success()).map(|st| (i, st)))
        {
            error = Some(format!(
                "function {} ({}) ended with {}",
                i + 1,
                chain.functions[i].name,
                crate::report::status_text(st.code(), st.signal())
            ));
        }
    }
    if let Some(sig) = crate::signals::received() {
        error.get_or_insert(format!("interrupted by {}", crate::signals::name(sig)));
    }
    Ok(WarmReport {
        ok: error.is_none(),
        error,
        transport: opts.transport.name().into(),
        warm_invocations: count,
        elapsed_s: start.elapsed().as_secs_f64(),
        warm_up_s,
        functions,
        invocations,
        store: store_report,
    })
}

fn accept_loop(listener: OwnedFd, tokens: Vec<String>, tx: crate::events::Sender<Event>) {
    crate::asks::serve(
        listener,
        &tokens,
        crate::asks::REQUEST_TIMEOUT,
        |r| match r {
            crate::asks::Request::Asked(i, conn) => tx.send(Event::Asked(i, conn)),
            crate::asks::Request::Refused(why) => {
                eprintln!("faasin: refused a handoff request: {why}");
                true
            }
        },
    );
}

/// Notes a function that broke off an invocation; the first one opens a
/// short window for its neighbours' reports.
fn broke(broken: &mut Vec<String>, limit: &mut Instant, e: String) {
    if broken.is_empty() {
        *limit = Instant::now() + Duration::from_millis(200);
    }
    broken.push(e);
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

struct Warm<'a> {
    chain: &'a Chain,
    funcs: Vec<Function>,
    /// Per function, the connection of its running invocation, on which its
    /// return value will come (read by `next_event`).
    results: Vec<Option<OwnedFd>>,
    /// Per edge, the ring memory its streams reuse from one invocation to
    /// the next (fresh memory costs a page fault per 4 KiB at first write:
    /// about 2 ms per MiB here).
    rings: Vec<Option<faasin::RingMemory>>,
    /// The next invocation's streams, made at the end of the previous one
    /// while the functions ask for it (every end of the previous streams
    /// is closed by then, see `edge`), so that an invocation starts with
    /// its grants.
    next_edges: Option<Vec<(OwnedFd, OwnedFd)>>,
    workers: Workers,
    rx: crate::events::Receiver<Event>,
    deadline: Option<Instant>,
    start: Instant,
}

impl Warm<'_> {
    /// Edge `i` of an invocation: (read end, write end). Over FAASIN, a new
    /// stream on the edge's ring memory: every end of the edge's previous
    /// stream is closed by then (each function closes its ends before it
    /// sends its return value, and the runner's pumps end before the
    /// invocation does), and its parties are the same two functions.
    fn edge(
        &mut self,
        transport: Transport,
        i: usize,
        cap: usize,
    ) -> io::Result<(OwnedFd, OwnedFd)> {
        match transport {
            Transport::Faasin => {
                let ring = match &mut self.rings[i] {
                    Some(r) => r,
                    slot => slot.insert(faasin::RingMemory::new(cap)?),
                };
                ring.endpoints()
            }
            _ => runner::os_pipe(),
        }
    }

    /// Every edge of an invocation: input, between functions, output.
    fn edges(&mut self, transport: Transport) -> io::Result<Vec<(OwnedFd, OwnedFd)>> {
        let n = self.funcs.len();
        let mut edges = Vec::with_capacity(n + 1);
        for i in 0..=n {
            let cap = self.chain.functions[i.saturating_sub(1)].capacity;
            edges.push(self.edge(transport, i, cap)?);
        }
        Ok(edges)
    }

    fn name(&self, i: usize) -> String {
        format!("function {} ({})", i + 1, self.chain.functions[i].name)
    }

    /// The next event, or why there will be none in time. Return values
    /// are read here, from the connections of the running invocations.
    fn next_event(&mut self, limit: Instant, what: &str) -> Result<Event, String> {
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
            let (waiting, fds): (Vec<usize>, Vec<BorrowedFd<'_>>) = (self.results.iter())
                .enumerate()
                .filter_map(|(i, c)| Some((i, c.as_ref()?.as_fd())))
                .unzip();
            let ready = self.rx.wait(&fds, (limit - now).min(runner::TICK));
            drop(fds);
            match ready {
                Ready::Fd(k) => {
                    let i = waiting[k];
                    let conn = self.results[i].take().expect("a waiting connection");
                    // Readable: the function is sending its value (or hung
                    // up); its pieces follow each other at once.
                    let r =
                        handoff::read_result_within(conn.as_fd(), runner::MAX_RETURN, RESULT_STALL);
                    let at = Instant::now();
                    if matches!(&r, Ok(v) if v.stays) {
                        // It waits there for its next invocation: asked.
                        self.on_asked(i, conn)?;
                    }
                    return Ok(Event::Finished(i, r, at));
                }
                Ready::Message(Event::Exited(i, st, rss)) => {
                    let st = st.map_err(|e| format!("cannot wait for {}: {e}", self.name(i)))?;
                    self.funcs[i].exited(Some(st), rss);
                    // A clean exit here is a one-shot function (one that
                    // takes faasin::input()/output() once).
                    let hint = if st.success() {
                        "; a warm function loops over faasin::invocations()"
                    } else {
                        ""
                    };
                    return Ok(Event::Ended(format!(
                        "{} ended ({}) while {what}{hint}",
                        self.name(i),
                        crate::report::status_text(st.code(), st.signal())
                    )));
                }
                Ready::Message(ev) => return Ok(ev),
                Ready::Timeout => {}
                Ready::Disconnected => return Err(format!("every function is gone while {what}")),
            }
        }
    }

    fn on_asked(&mut self, i: usize, conn: OwnedFd) -> Result<(), String> {
        if self.funcs[i].asked.replace(conn).is_some() {
            return Err(format!(
                "{} asked for a second invocation before finishing one",
                self.name(i)
            ));
        }
        Ok(())
    }

    /// Waits until every function has asked for its next invocation.
    fn wait_all_asked(&mut self) -> Result<(), String> {
        let limit = Instant::now() + ASK_TIMEOUT;
        while self.funcs.iter().any(|f| f.asked.is_none()) {
            match self.next_event(limit, "waiting for the functions to ask for an invocation")? {
                Event::Asked(i, c) => self.on_asked(i, c)?,
                Event::Ended(e) => return Err(e),
                _ => return Err("a stray event between invocations".into()),
            }
        }
        Ok(())
    }

    /// Hands function `i` its ends; its return value will come on the
    /// connection, which `next_event` watches from now on.
    fn grant(&mut self, i: usize, input: OwnedFd, output: OwnedFd) -> Result<(), String> {
        let conn = self.funcs[i].asked.take().expect("asked before the grant");
        handoff::grant(conn.as_fd(), Some(input.as_fd()), Some(output.as_fd()))
            .map_err(|e| format!("cannot hand {} its streams: {e}", self.name(i)))?;
        // Our copies close here, so that the function's exit is seen by its
        // neighbours as EOF or a broken pipe.
        drop((input, output));
        self.results[i] = Some(conn);
        Ok(())
    }

    /// One invocation over rings or pipes: every function at once.
    fn streamed(
        &mut self,
        opts: &Options,
        input: &Arc<Vec<u8>>,
        output: &mut Box<dyn Write + Send>,
    ) -> Result<InvocationReport, String> {
        let n = self.funcs.len();
        let started_unix_s = unix_now();
        let t0 = Instant::now();
        let edges = match self.next_edges.take() {
            Some(e) => e,
            None => self
                .edges(opts.transport)
                .map_err(|e| format!("cannot create a stream: {e}"))?,
        };
        let mut ends: Vec<(Option<OwnedFd>, Option<OwnedFd>)> =
            edges.into_iter().map(|(r, w)| (Some(r), Some(w))).collect();
        let feed = ends[0].1.take().expect("fresh");
        let drain = ends[n].0.take().expect("fresh");
        let data = Arc::clone(input);
        let (ftx, frx) = mpsc::channel::<io::Result<()>>();
        // The runner's own ends do not spin: on two CPUs a spinning runner
        // thread takes the CPU a function needs to start or to run.
        self.workers.run(move || {
            let r = faasin::Writer::from_fd(feed).and_then(|mut w| {
                w.set_spin(Duration::ZERO);
                w.write_all(&data)
            });
            let _ = ftx.send(r);
        });
        // The output streams to its destination as it comes, which the
        // thread borrows for the invocation and hands back.
        type Drained = (io::Result<u64>, Box<dyn Write + Send>, Instant);
        let (otx, orx) = mpsc::channel::<Drained>();
        let mut dst = std::mem::replace(output, Box::new(io::sink()));
        self.workers.run(move || {
            let meter = pumps::Meter::new(Instant::now());
            // The reader is closed (moved into the pump) before the
            // invocation can end: the next invocation reuses its ring memory.
            let r = faasin::Reader::from_fd(drain)
                .and_then(|mut r| {
                    r.set_spin(Duration::ZERO);
                    pumps::from_stream(r, &mut *dst, &meter)
                })
                .map(|()| meter.bytes());
            let _ = otx.send((r, dst, Instant::now()));
        });
        // Last function first: each reader is on its way before its writer
        // starts, so a writer that fills its ring does not take the CPU its
        // reader needs to start.
        for i in (0..n).rev() {
            let inp = ends[i].0.take().expect("each read end once");
            let out = ends[i + 1].1.take().expect("each write end once");
            self.grant(i, inp, out)?;
        }
        let mut finished = vec![None; n];
        let mut values = vec![serde_json::Value::Null; n];
        // When one function breaks off, its neighbours usually follow (EOF,
        // EPIPE): their reports are gathered for a moment, so that the
        // message names every function that broke off, the cause among them.
        let mut broken: Vec<String> = Vec::new();
        let mut limit = Instant::now() + Duration::from_secs(24 * 3600);
        while finished.iter().any(Option::is_none) {
            let ev = match self.next_event(limit, "an invocation ran") {
                Ok(ev) => ev,
                Err(_) if !broken.is_empty() => break,
                Err(e) => return Err(e),
            };
            match ev {
                Event::Finished(i, r, at) => {
                    finished[i] = Some(at.duration_since(t0).as_secs_f64());
                    match self.result(i, r) {
                        Ok(v) => values[i] = v,
                        Err(e) => broke(&mut broken, &mut limit, e),
                    }
                }
                Event::Ended(e) => broke(&mut broken, &mut limit, e),
                Event::Asked(i, c) => self.on_asked(i, c)?,
                _ => return Err("a stray event".into()),
            }
        }
        if !broken.is_empty() {
            return Err(broken.join("; "));
        }
        let (out, dst, out_at) = loop {
            match orx.recv_timeout(runner::TICK) {
                Ok(v) => break v,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err("timed out waiting for the output".into());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the output thread died".into())
                }
            }
        };
        *output = dst;
        let out_len = out.map_err(|e| format!("passing the output on failed: {e}"))?;
        match frx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Ok(Err(e)) => return Err(format!("feeding the input failed: {e}")),
            Err(_) => return Err("the input thread panicked".into()),
        }
        // Every end of this invocation's streams is closed now: the next
        // invocation's can be made while the functions ask for it.
        self.next_edges = self.edges(opts.transport).ok();
        let end = finished
            .iter()
            .flatten()
            .copied()
            .fold(out_at.duration_since(t0).as_secs_f64(), f64::max);
        Ok(InvocationReport {
            started_unix_s,
            elapsed_s: end,
            finished_s: finished.into_iter().flatten().collect(),
            return_values: values,
            output_bytes: out_len,
        })
    }

    /// One invocation through a store: a function runs once the previous
    /// one's whole output is stored, and reads it back from there.
    fn staged(
        &mut self,
        store: &Store,
        input: &Arc<Vec<u8>>,
        output: &mut Box<dyn Write + Send>,
        ops: &mut Vec<(usize, Option<f64>, Option<f64>)>,
    ) -> Result<InvocationReport, String> {
        let n = self.funcs.len();
        let started_unix_s = unix_now();
        let t0 = Instant::now();
        let mut finished = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut carried = Arc::clone(input);
        let mut out_len = 0;
        for i in 0..n {
            if i > 0 {
                let t = Instant::now();
                carried = Arc::new(
                    store
                        .get(i)
                        .map_err(|e| format!("getting the output of {}: {e}", self.name(i - 1)))?,
                );
                ops.push((i, None, Some(t.elapsed().as_secs_f64())));
            }
            let (in_r, in_w) = runner::os_pipe().map_err(|e| format!("pipe: {e}"))?;
            let (out_r, out_w) = runner::os_pipe().map_err(|e| format!("pipe: {e}"))?;
            let data = Arc::clone(&carried);
            let (ftx, feeder) = mpsc::channel::<io::Result<()>>();
            self.workers.run(move || {
                let _ = ftx.send(File::from(in_w).write_all(&data));
            });
            let (ctx, collector) = mpsc::channel::<io::Result<Vec<u8>>>();
            self.workers.run(move || {
                let mut v = Vec::new();
                let _ = ctx.send(File::from(out_r).read_to_end(&mut v).map(|_| v));
            });
            self.grant(i, in_r, out_w)?;
            let limit = Instant::now() + Duration::from_secs(24 * 3600);
            loop {
                match self.next_event(limit, "an invocation ran")? {
                    Event::Finished(j, r, at) if j == i => {
                        values.push(self.result(i, r)?);
                        finished.push(at.duration_since(t0).as_secs_f64());
                        break;
                    }
                    Event::Asked(j, c) => self.on_asked(j, c)?,
                    Event::Ended(e) => return Err(e),
                    _ => return Err("a stray event".into()),
                }
            }
            let stored = collector
                .recv()
                .map_err(|_| "the collector thread panicked".to_string())?
                .map_err(|e| format!("collecting the output of {}: {e}", self.name(i)))?;
            match feeder.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Ok(Err(e)) => return Err(format!("feeding {}: {e}", self.name(i))),
                Err(_) => return Err("the feeder thread panicked".into()),
            }
            if i + 1 < n {
                let t = Instant::now();
                store
                    .put(i + 1, &stored)
                    .map_err(|e| format!("storing the output of {}: {e}", self.name(i)))?;
                ops.push((i + 1, Some(t.elapsed().as_secs_f64()), None));
            } else {
                out_len = stored.len() as u64;
                output
                    .write_all(&stored)
                    .map_err(|e| format!("writing the output failed: {e}"))?;
            }
        }
        Ok(InvocationReport {
            started_unix_s,
            elapsed_s: t0.elapsed().as_secs_f64(),
            finished_s: finished,
            return_values: values,
            output_bytes: out_len,
        })
    }

    fn result(
        &self,
        i: usize,
        r: io::Result<handoff::ReturnValue>,
    ) -> Result<serde_json::Value, String> {
        match r {
            Ok(v) => Ok(crate::report::return_value(&v.value)),
            Err(e) => Err(format!(
                "{} broke off its invocation before returning: {e}",
                self.name(i)
            )),
        }
    }

    /// Tells every function that asks that there is no more work (or, after
    /// a failure, just stops them), then waits for them to exit.
    fn end_all(&mut self, ok: bool, grace: Duration, docker: &str) {
        // An invocation still running is over for the runner.
        self.results.iter_mut().for_each(|r| *r = None);
        let limit = Instant::now() + if ok { ASK_TIMEOUT } else { Duration::ZERO };
        loop {
            for f in self.funcs.iter_mut() {
                if let Some(c) = f.asked.take() {
                    let _ = handoff::end(c.as_fd());
                }
            }
            if self.funcs.iter().all(|f| f.pid.is_none()) || Instant::now() >= limit {
                break;
            }
            match self.rx.recv_timeout(runner::TICK) {
                Ok(Event::Asked(i, c)) => self.funcs[i].asked = Some(c),
                Ok(Event::Exited(i, st, rss)) => {
                    self.funcs[i].exited(st.ok(), rss);
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // A container still running is removed: its `docker run` client
        // dying (below) would not stop it.
        let left: Vec<&str> = self
            .funcs
            .iter()
            .filter(|f| f.pid.is_some())
            .filter_map(|f| f.container.as_deref())
            .collect();
        runner::remove_named_containers(&left, docker);
        // Whoever is left: SIGTERM, then SIGKILL.
        let mut signal = libc::SIGTERM;
        let mut until = Instant::now() + grace.min(runner::KILL_AFTER);
        while self.funcs.iter().any(|f| f.pid.is_some()) {
            for f in &self.funcs {
                if let Some(pid) = f.pid {
                    // SAFETY: plain kill(2) of the process group we created
                    // (process_group(0) made the child its leader).
                    unsafe { libc::kill(-pid, signal) };
                }
            }
            while Instant::now() < until && self.funcs.iter().any(|f| f.pid.is_some()) {
                if let Ok(Event::Exited(i, st, rss)) = self.rx.recv_timeout(runner::TICK) {
                    self.funcs[i].exited(st.ok(), rss);
                }
            }
            if signal == libc::SIGKILL {
                break;
            }
            signal = libc::SIGKILL;
            until = Instant::now() + runner::KILL_AFTER;
        }
    }
}
