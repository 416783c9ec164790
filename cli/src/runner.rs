//! Runs a chain: one ring between each pair of neighbours, every function
//! started at once with its ends, the runner feeding the first and draining
//! the last, then return values and exit statuses collected into a report.

use crate::chain::{Chain, Function};
use crate::handoff_server::{self, Server};
use crate::pumps::{self, Meter};
use crate::report::{EdgeReport, FunctionReport, Report};
use crate::signals;
use faasin::{Probe, Reader, Writer};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// FAASIN shared-memory rings.
    Faasin,
    /// Plain OS pipes, for comparison.
    Pipe,
    /// Today's platforms: each function's whole output is SET into Redis,
    /// and the next function starts when it has ended and gets it by GET.
    Redis,
    /// The same with files (on tmpfs by default) instead of Redis.
    File,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Faasin => "faasin",
            Transport::Pipe => "pipe",
            Transport::Redis => "redis",
            Transport::File => "file",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub transport: Transport,
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// After a function fails, how long the others may go on before they
    /// get SIGTERM (then SIGKILL after `KILL_AFTER`).
    pub grace: Duration,
    pub timeout: Option<Duration>,
    pub progress: bool,
    pub docker: String,
    /// `--transport redis`: a Redis to use instead of starting one.
    pub redis: Option<String>,
    /// `--transport file`: where the files go (default: /dev/shm).
    pub store_dir: Option<PathBuf>,
}

/// Between SIGTERM and SIGKILL.
pub(crate) const KILL_AFTER: Duration = Duration::from_secs(2);
/// A return value longer than this is cut (the rest is read and dropped).
pub(crate) const MAX_RETURN: usize = 16 << 20;
pub(crate) const TICK: Duration = Duration::from_millis(20);

/// A setup problem found before anything ran (exit status 2).
#[derive(Debug)]
pub struct SetupError(pub String);

/// One ring (or pipe) between two neighbours; edge 0 feeds the first
/// function, edge n is drained by the runner.
struct Edge {
    read: Option<OwnedFd>,
    write: Option<OwnedFd>,
    capacity: usize,
    probe: Option<Probe>,
    /// Counted where the runner itself writes (input pump, stdio adapter).
    written: Option<Arc<Meter>>,
    /// Counted where the runner itself reads (output pump, stdio adapter).
    consumed: Option<Arc<Meter>>,
}

impl Edge {
    fn new(transport: Transport, capacity: usize) -> io::Result<Edge> {
        let (read, write, probe) = match transport {
            Transport::Faasin => {
                let (r, w, p) = faasin::pipe_fds_probed(capacity)?;
                (r, w, Some(p))
            }
            Transport::Pipe | Transport::Redis | Transport::File => {
                let (r, w) = os_pipe()?;
                // The same buffer as the ring, for a fair comparison; a
                // refusal (over /proc/sys/fs/pipe-max-size) keeps the default.
                // SAFETY: fcntl on our own pipe fd.
                unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, capacity as libc::c_int) };
                (r, w, None)
            }
        };
        Ok(Edge {
            read: Some(read),
            write: Some(write),
            capacity,
            probe,
            written: None,
            consumed: None,
        })
    }

    fn written(&self) -> Option<u64> {
        match (&self.probe, &self.written, &self.consumed) {
            (Some(p), _, _) => Some(p.written()),
            (None, Some(m), _) => Some(m.bytes()),
            // A reader that drained the pipe to EOF read all that was written.
            (None, None, Some(m)) if m.reached_eof() => Some(m.bytes()),
            _ => None,
        }
    }

    fn consumed(&self) -> Option<u64> {
        match (&self.probe, &self.consumed) {
            (Some(p), _) => Some(p.consumed()),
            (None, Some(m)) => Some(m.bytes()),
            _ => None,
        }
    }
}

/// Where the chain's output goes: `--output`, else (a duplicate of) stdout.
pub(crate) fn open_output(opts: &Options) -> Result<Box<dyn Write + Send>, SetupError> {
    Ok(match &opts.output {
        Some(p) => {
            Box::new(File::create(p).map_err(|e| {
                SetupError(format!("cannot create output file {}: {e}", p.display()))
            })?)
        }
        None => Box::new(File::from(
            dup_std(1).map_err(|e| SetupError(format!("cannot use stdout: {e}")))?,
        )),
    })
}

pub(crate) fn os_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// What the main loop knows of one function.
struct Slot {
    pid: Option<i32>,
    container: Option<String>,
    start: Option<Instant>,
    end: Option<Instant>,
    status: Option<ExitStatus>,
    error: Option<String>,
    first_out: Option<Instant>,
    max_rss: Option<u64>,
    handoff_at: Option<Instant>,
    ret: Option<JoinHandle<(Vec<u8>, bool)>>,
    killed: bool,
    notes: Vec<String>,
}

impl Slot {
    fn running(&self) -> bool {
        self.pid.is_some() && self.end.is_none()
    }

    fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| !s.success())
    }
}

enum Event {
    Exit(usize, io::Result<ExitStatus>, Instant, Option<u64>),
    Granted(usize, Instant),
}

/// Runs the chain; the report says how it went. Setup errors (a missing
/// image, an unreadable input file) are returned before anything starts.
pub fn run(chain: &Chain, opts: &Options) -> Result<Report, SetupError> {
    if matches!(opts.transport, Transport::Redis | Transport::File) {
        return crate::staged::run(chain, opts);
    }
    let n = chain.functions.len();
    let uses_docker = chain.functions.iter().any(|f| f.image.is_some());
    if uses_docker {
        check_images(chain, &opts.docker)?;
    }
    let mut input: Box<dyn Read + Send> = match &opts.input {
        Some(p) => Box::new(
            File::open(p)
                .map_err(|e| SetupError(format!("cannot open input file {}: {e}", p.display())))?,
        ),
        None => Box::new(File::from(
            dup_std(0).map_err(|e| SetupError(format!("cannot use stdin: {e}")))?,
        )),
    };
    let mut output = open_output(opts)?;

    let start = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    // Edge i feeds function i; its capacity is that of the writer's side
    // (edge 0: the first function's, as the runner is its writer).
    let mut edges = Vec::with_capacity(n + 1);
    for i in 0..=n {
        let cap = chain.functions[i.saturating_sub(1)].capacity;
        edges.push(
            Edge::new(opts.transport, cap)
                .map_err(|e| SetupError(format!("cannot create a ring of {cap} bytes: {e}")))?,
        );
    }

    let (tx, rx) = mpsc::channel::<Event>();
    let needs_server = chain
        .functions
        .iter()
        .any(|f| f.image.is_some() || f.handoff);
    let server = if needs_server {
        let (gtx, grx) = mpsc::channel::<handoff_server::Granted>();
        let fwd = tx.clone();
        std::thread::spawn(move || {
            for g in grx {
                let _ = fwd.send(Event::Granted(g.func, g.at));
            }
        });
        Some(
            Server::start(gtx)
                .map_err(|e| SetupError(format!("cannot serve the handoff socket: {e}")))?,
        )
    } else {
        None
    };

    signals::install();
    let run_id = &handoff_server::random_token()[..8];
    let mut guard = crate::guard::Guard::start(&opts.docker, run_id);
    let mut slots: Vec<Slot> = (0..n)
        .map(|_| Slot {
            pid: None,
            container: None,
            start: None,
            end: None,
            status: None,
            error: None,
            first_out: None,
            max_rss: None,
            handoff_at: None,
            ret: None,
            killed: false,
            notes: Vec::new(),
        })
        .collect();
    let mut adapters: Vec<JoinHandle<()>> = Vec::new();

    // The runner's own ends: it writes edge 0 and reads edge n.
    let in_meter = Arc::new(Meter::new(start));
    edges[0].written = Some(in_meter.clone());
    let in_writer = edges[0].write.take().expect("fresh edge");
    let input_thread = std::thread::spawn(move || -> io::Result<()> {
        let w = Writer::from_fd(in_writer)?;
        pumps::into_stream(&mut *input, w, &in_meter)
    });
    let out_meter = Arc::new(Meter::new(start));
    edges[n].consumed = Some(out_meter.clone());
    let out_reader = edges[n].read.take().expect("fresh edge");
    let output_thread = std::thread::spawn(move || -> io::Result<()> {
        let r = Reader::from_fd(out_reader)?;
        pumps::from_stream(r, &mut *output, &out_meter)
    });

    for (i, f) in chain.functions.iter().enumerate() {
        let input_end = edges[i].read.take().expect("each read end is taken once");
        let output_end = edges[i + 1]
            .write
            .take()
            .expect("each write end is taken once");
        let container = container_name(f, run_id, i);
        let uses_handoff = !f.stdio && (f.image.is_some() || f.handoff);
        let mut inherited = None;
        let mut stdio_ends = None;
        let token = if uses_handoff {
            let server = server.as_ref().expect("started for handoff functions");
            Some(server.offer(i, Some(input_end), Some(output_end)))
        } else if f.stdio {
            stdio_ends = Some((input_end, output_end));
            None
        } else {
            inherited = Some((input_end, output_end));
            None
        };
        let mut cmd = build_command(
            f,
            container.as_deref(),
            server.as_ref().map(|s| HandoffAt {
                dir: s.dir(),
                socket: s.socket(),
            }),
            token.as_deref(),
            &opts.docker,
        );
        cmd.stderr(Stdio::inherit()).stdout(Stdio::piped());
        cmd.stdin(if f.stdio {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.process_group(0);
        // Marks every process of this run, descendants included, so the
        // guard finds them even if the runner dies before naming the group.
        guard.mark(&mut cmd);
        die_with_runner(&mut cmd);
        if let Some((inp, out)) = &inherited {
            cmd.env(faasin::ENV_INPUT_FD, "3")
                .env(faasin::ENV_OUTPUT_FD, "4");
            place_ends(&mut cmd, inp.as_raw_fd(), out.as_raw_fd());
        }
        slots[i].start = Some(Instant::now());
        let mut spawned = cmd.spawn();
        // Our copies of inherited ends close here, right after the spawn:
        // the child holds the only ones, so its exit is seen downstream
        // (EOF) and upstream (EPIPE).
        drop(inherited);
        match (&mut spawned, stdio_ends) {
            (Ok(child), Some((inp, out))) => {
                // Adapter threads hold the ring ends and copy between them
                // and the child's plain pipes.
                let m_in = Arc::new(Meter::new(start));
                let m_out = Arc::new(Meter::new(start));
                edges[i].consumed = Some(m_in.clone());
                edges[i + 1].written = Some(m_out.clone());
                let mut stdin = child.stdin.take().expect("piped");
                let mut stdout = child.stdout.take().expect("piped");
                adapters.push(std::thread::spawn(move || {
                    // A child that stops reading makes this fail with EPIPE;
                    // the ring end then closes and the upstream function gets
                    // EPIPE in turn, as in a shell pipeline.
                    if let Ok(r) = Reader::from_fd(inp) {
                        let _ = pumps::from_stream(r, &mut stdin, &m_in);
                    }
                }));
                adapters.push(std::thread::spawn(move || {
                    if let Ok(w) = Writer::from_fd(out) {
                        let _ = pumps::into_stream(&mut stdout, w, &m_out);
                    }
                }));
            }
            (Err(_), _) if token.is_some() => {
                if let Some(s) = &server {
                    s.withdraw(i);
                }
            }
            _ => {}
        }
        if let Ok(child) = &spawned {
            guard.group(child.id() as i32);
        }
        if let Some(name) = &container {
            guard.container(name);
        }
        start_child(i, spawned, &mut slots[i], f, &tx, container);
    }
    drop(tx);

    let outcome = supervise(chain, opts, &mut slots, &edges, &rx, server.as_ref(), start);

    for s in slots.iter_mut() {
        kill_leftovers(s);
    }
    let chain_failed = outcome.is_some() || slots.iter().any(Slot::failed);
    if chain_failed {
        remove_containers(&slots, &opts.docker);
    }
    if let Some(s) = &server {
        for i in 0..n {
            s.withdraw(i);
        }
    }
    guard.done();
    let refused = server.as_ref().map_or(0, Server::refused);
    drop(server);

    let mut notes = Vec::new();
    match output_thread.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            notes.push("the output was closed before the chain ended (EPIPE)".to_string())
        }
        Ok(Err(e)) => notes.push(format!("writing the output failed: {e}")),
        Err(_) => notes.push("the output thread panicked".into()),
    }
    // The input thread may be blocked reading a terminal that nobody will
    // type into: it is not joined, only asked how it went if it is done.
    if input_thread.is_finished() {
        match input_thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => notes.push(format!(
                "function 1 ({}) ended before reading all of the input",
                chain.functions[0].name
            )),
            Ok(Err(e)) => notes.push(format!("reading the input failed: {e}")),
            Err(_) => notes.push("the input thread panicked".into()),
        }
    }
    for a in adapters {
        if a.is_finished() {
            let _ = a.join();
        }
    }

    let mut functions = Vec::with_capacity(n);
    for (i, (f, s)) in chain.functions.iter().zip(slots.iter_mut()).enumerate() {
        let (ret, truncated) = match s.ret.take().map(JoinHandle::join) {
            Some(Ok((bytes, truncated))) => (Some(bytes), truncated),
            _ => (None, false),
        };
        if truncated {
            s.notes
                .push(format!("return value cut at {MAX_RETURN} bytes"));
        }
        let secs = |t: Option<Instant>| t.map(|t| t.duration_since(start).as_secs_f64());
        if let (Some(w), Some(c), Some(st)) = (edges[i].written(), edges[i].consumed(), s.status) {
            if w > c && st.success() {
                s.notes.push(format!(
                    "ended with {} of its input unread",
                    crate::report::human_bytes(w - c)
                ));
            }
        }
        let first_out = match (&edges[i + 1].written, s.first_out) {
            (Some(m), _) => m.first_byte_s(),
            // Sampled: it happened before the sample, and before the writer
            // ended, whichever is earlier.
            (None, t) => secs(match (t, s.end) {
                (Some(t), Some(e)) => Some(t.min(e)),
                (t, _) => t,
            }),
        };
        functions.push(FunctionReport {
            name: f.name.clone(),
            kind: if f.image.is_some() {
                "container"
            } else {
                "process"
            }
            .into(),
            command: f.command.display(),
            image: f.image.clone(),
            container: s.container.clone(),
            stdio: f.stdio,
            handoff: f.handoff || f.image.is_some(),
            ok: !s.failed() && s.status.is_some(),
            exit_code: s.status.and_then(|st| st.code()),
            signal: s.status.and_then(|st| st.signal()),
            error: s.error.clone(),
            killed_by_runner: s.killed,
            return_value: ret
                .filter(|_| !f.stdio)
                .map(|b| crate::report::return_value(&b)),
            start_s: secs(s.start),
            handoff_s: secs(s.handoff_at),
            first_byte_s: first_out,
            first_in_s: match &edges[i].written {
                Some(m) => m.first_byte_s(),
                None => functions
                    .last()
                    .and_then(|p: &FunctionReport| p.first_byte_s),
            },
            end_s: secs(s.end),
            bytes_in: edges[i].consumed(),
            bytes_out: edges[i + 1].written(),
            max_rss_bytes: s.max_rss,
            notes: s.notes.clone(),
        });
    }
    let edge_reports = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (from, to) = chain.edge_ends(i);
            EdgeReport {
                from,
                to,
                capacity: e.capacity,
                written: e.written(),
                consumed: e.consumed(),
            }
        })
        .collect();
    let error = outcome.or_else(|| first_failure(chain, &slots));
    Ok(Report {
        ok: error.is_none(),
        error,
        interrupted_by: signals::received(),
        transport: opts.transport.name().into(),
        started_unix_s: started_unix,
        elapsed_s: start.elapsed().as_secs_f64(),
        input_bytes: edges[0].written().unwrap_or(0),
        output_bytes: edges[n].consumed().unwrap_or(0),
        refused_handoffs: refused,
        runner_max_rss_bytes: crate::report::self_max_rss(),
        store: None,
        notes,
        functions,
        edges: edge_reports,
    })
}

/// Waits for every function; applies the grace period, the timeout and
/// signals. Returns the reason the runner itself stopped the chain, if any.
fn supervise(
    chain: &Chain,
    opts: &Options,
    slots: &mut [Slot],
    edges: &[Edge],
    rx: &mpsc::Receiver<Event>,
    server: Option<&Server>,
    start: Instant,
) -> Option<String> {
    let mut reason: Option<String> = None;
    let mut term_at: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    let mut seen_signals = 0;
    let mut progress = opts.progress.then(crate::progress::Progress::new);
    let mut next_draw = Instant::now();
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Event::Exit(i, status, at, rss)) => {
                let s = &mut slots[i];
                s.end = Some(at);
                s.max_rss = rss;
                match status {
                    Ok(st) => s.status = Some(st),
                    Err(e) => s.error = Some(format!("waiting for it failed: {e}")),
                }
                // A function is over when its main process is: whatever it
                // left running in its group would hold its ends open, and
                // its neighbours would wait for EOF forever.
                let signaled = s.status.is_some_and(|st| st.signal().is_some());
                if kill_leftovers(s) && !s.killed && !signaled {
                    s.notes.push(
                        "left processes running in its process group; the runner killed them"
                            .into(),
                    );
                }
                if let Some(server) = server {
                    if server.withdraw(i) && s.handoff_at.is_none() {
                        s.notes
                            .push("ended without taking its ends from the handoff socket".into());
                    }
                }
            }
            Ok(Event::Granted(i, at)) => slots[i].handoff_at = Some(at),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Every sender gone means no function is running; the check
            // below ends the loop. Never spin meanwhile.
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
        }
        let now = Instant::now();
        for (i, s) in slots.iter_mut().enumerate() {
            if s.first_out.is_none() {
                if let Some(p) = &edges[i + 1].probe {
                    if p.written() > 0 {
                        s.first_out = Some(now);
                    }
                }
            }
        }
        if slots.iter().all(|s| !s.running()) {
            break;
        }
        let sigs = signals::count();
        if sigs > seen_signals {
            seen_signals = sigs;
            if reason.is_none() {
                reason = Some(format!(
                    "interrupted by {}",
                    signals::name(signals::received().unwrap_or(libc::SIGINT))
                ));
                term_at = Some(now);
            } else {
                // A second Ctrl-C: no more patience.
                kill_at = Some(now);
            }
        }
        if let (Some(t), None) = (opts.timeout, &reason) {
            if now.duration_since(start) >= t {
                reason = Some(format!("the chain timed out after {} s", t.as_secs_f64()));
                term_at = Some(now);
            }
        }
        if term_at.is_none() && slots.iter().any(Slot::failed) {
            term_at = Some(now + opts.grace);
        }
        if let Some(t) = term_at {
            if now >= t && kill_at.is_none() {
                signal_all(slots, libc::SIGTERM);
                remove_containers(slots, &opts.docker);
                kill_at = Some(now + KILL_AFTER);
            }
        }
        if let Some(t) = kill_at {
            if now >= t {
                signal_all(slots, libc::SIGKILL);
                // Once is enough; a process that survives SIGKILL is stuck
                // in the kernel and its wait will come.
                kill_at = Some(now + Duration::from_secs(3600));
            }
        }
        if let Some(p) = progress.as_mut() {
            if now >= next_draw {
                p.draw(&progress_lines(chain, slots, edges));
                next_draw = now + Duration::from_millis(200);
            }
        }
    }
    if let Some(p) = progress.as_mut() {
        p.clear();
    }
    reason
}

fn progress_lines(chain: &Chain, slots: &[Slot], edges: &[Edge]) -> Vec<String> {
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
            let b = |v: Option<u64>| v.map_or("?".to_string(), crate::report::human_bytes);
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

/// SIGKILLs what is left in a function's process group; true if anything was.
fn kill_leftovers(s: &Slot) -> bool {
    let Some(pid) = s.pid else { return false };
    // SAFETY: kill(2) with signal 0 only checks that the group has members.
    if unsafe { libc::kill(-pid, 0) } != 0 {
        return false;
    }
    // SAFETY: kill(2) on the function's own process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    true
}

fn signal_all(slots: &mut [Slot], sig: libc::c_int) {
    for s in slots.iter_mut().filter(|s| s.running()) {
        if let Some(pid) = s.pid {
            // SAFETY: kill(2) on the function's own process group.
            unsafe { libc::kill(-pid, sig) };
            s.killed = true;
        }
    }
}

/// `docker rm -f` every container of the chain that may still exist; the
/// `docker run` client dying does not stop its container.
fn remove_containers(slots: &[Slot], docker: &str) {
    let names: Vec<&str> = slots
        .iter()
        .filter_map(|s| s.container.as_deref())
        .collect();
    remove_named_containers(&names, docker);
}

/// `docker rm -f` of these containers (each may be gone already).
pub(crate) fn remove_named_containers(names: &[&str], docker: &str) {
    if names.is_empty() {
        return;
    }
    let _ = std::process::Command::new(docker)
        .args(["rm", "-f"])
        .args(names)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn start_child(
    i: usize,
    spawned: io::Result<Child>,
    slot: &mut Slot,
    f: &Function,
    tx: &mpsc::Sender<Event>,
    container: Option<String>,
) {
    match spawned {
        Ok(mut child) => {
            slot.pid = Some(child.id() as i32);
            slot.container = container;
            if let Some(mut out) = child.stdout.take() {
                slot.ret = Some(std::thread::spawn(move || read_return(&mut out)));
            }
            let tx = tx.clone();
            let pid = child.id() as i32;
            std::thread::spawn(move || {
                let (st, rss) = wait_rusage(pid);
                // Reaped by wait4: `child` must not be waited for again.
                drop(child);
                let _ = tx.send(Event::Exit(i, st, Instant::now(), rss));
            });
        }
        Err(e) => {
            let what = match &f.image {
                Some(_) => "docker".to_string(),
                None => f.command.argv()[0].clone(),
            };
            slot.error = Some(format!("could not start {what:?}: {e}"));
            slot.end = slot.start;
        }
    }
}

/// Waits for a child and tells its exit status and peak resident memory.
pub(crate) fn wait_rusage(pid: i32) -> (io::Result<ExitStatus>, Option<u64>) {
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; both pointers are to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return (
                Ok(ExitStatus::from_raw(status)),
                Some(ru.ru_maxrss as u64 * 1024),
            );
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return (Err(e), None);
        }
    }
}

pub(crate) fn read_return(src: &mut dyn Read) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_RETURN - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, truncated)
}

/// The container name of function `i` of run `run_id`, if it runs in one
/// (the guard and the Docker tests find a run's containers by it).
pub(crate) fn container_name(f: &Function, run_id: &str, i: usize) -> Option<String> {
    f.image
        .as_ref()
        .map(|_| format!("faasin-{run_id}-{}", i + 1))
}

/// Where a function finds the handoff socket: its directory (bind-mounted
/// into a container) and the socket's path on the host.
pub(crate) struct HandoffAt<'a> {
    pub dir: &'a Path,
    pub socket: &'a Path,
}

pub(crate) fn build_command(
    f: &Function,
    container: Option<&str>,
    handoff: Option<HandoffAt<'_>>,
    token: Option<&str>,
    docker: &str,
) -> std::process::Command {
    let mut c;
    match (&f.image, container) {
        (Some(image), Some(name)) => {
            c = std::process::Command::new(docker);
            c.arg("run").args([
                "--rm",
                "--name",
                name,
                "--network",
                "none",
                "--pull",
                "never",
            ]);
            if f.stdio {
                c.arg("-i");
            }
            for (k, v) in &f.env {
                c.arg("-e").arg(format!("{k}={v}"));
            }
            // After the user's env, so that these win.
            if let (Some(at), Some(token)) = (handoff, token) {
                c.arg("-v").arg(format!(
                    "{}:{}",
                    at.dir.display(),
                    handoff_server::CONTAINER_DIR
                ));
                c.arg("-e").arg(format!(
                    "{}={}/{}",
                    faasin::handoff::ENV_SOCKET,
                    handoff_server::CONTAINER_DIR,
                    handoff_server::SOCKET_NAME
                ));
                c.arg("-e")
                    .arg(format!("{}={token}", faasin::handoff::ENV_TOKEN));
            }
            c.arg(image).args(f.command.argv());
        }
        _ => {
            let argv = f.command.argv();
            c = std::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            // A nested runner's variables must not leak into its functions.
            for v in [
                faasin::ENV_INPUT_FD,
                faasin::ENV_OUTPUT_FD,
                faasin::handoff::ENV_SOCKET,
                faasin::handoff::ENV_TOKEN,
            ] {
                c.env_remove(v);
            }
            c.envs(&f.env);
            if let (Some(at), Some(token)) = (handoff, token) {
                c.env(faasin::handoff::ENV_SOCKET, at.socket);
                c.env(faasin::handoff::ENV_TOKEN, token);
            }
        }
    }
    c
}

/// A runner killed by SIGKILL cannot clean up: its direct children get
/// SIGKILL from the kernel then (PR_SET_PDEATHSIG), so that at least they
/// are not left running. Their own children and containers are not covered.
pub(crate) fn die_with_runner(cmd: &mut std::process::Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl
    // and getppid, which are async-signal-safe; it allocates nothing.
    unsafe {
        let runner = libc::getpid();
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            // The runner may have died before the prctl took effect.
            if libc::getppid() != runner {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Puts the function's ends at fds 3 (input) and 4 (output) in the child.
pub(crate) fn place_ends(cmd: &mut std::process::Command, input: RawFd, output: RawFd) {
    // SAFETY: the closure runs between fork and exec and only calls fcntl
    // and dup2, which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // First out of the way of 3 and 4 (either end may sit there),
            // then into place; dup2 clears close-on-exec on the new fd.
            let a = libc::fcntl(input, libc::F_DUPFD_CLOEXEC, 10);
            let b = libc::fcntl(output, libc::F_DUPFD_CLOEXEC, 10);
            if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub(crate) fn dup_std(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: 0 and 1 are open for the life of the process (or dup fails).
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    b.try_clone_to_owned()
}

/// Every image must exist here: nothing can be pulled, and failing before
/// anything runs is clearer than a container failing in the middle.
pub(crate) fn check_images(chain: &Chain, docker: &str) -> Result<(), SetupError> {
    for f in &chain.functions {
        let Some(image) = &f.image else { continue };
        let out = std::process::Command::new(docker)
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                SetupError(format!(
                    "function {:?} runs in a container, but {docker:?} cannot be run: {e}",
                    f.name
                ))
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("Cannot connect") || err.contains("daemon") && !err.contains("No such")
            {
                return Err(SetupError(format!(
                    "function {:?} runs in a container, but the Docker daemon is not reachable: {}",
                    f.name,
                    err.trim()
                )));
            }
            return Err(SetupError(format!(
                "function {:?}: image {image:?} does not exist locally (nothing is pulled; build it first, e.g. with cli/images/build.sh)",
                f.name
            )));
        }
    }
    Ok(())
}

fn first_failure(chain: &Chain, slots: &[Slot]) -> Option<String> {
    let mut failed: Vec<(usize, &Slot)> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.failed())
        .collect();
    failed.sort_by_key(|(_, s)| s.end);
    let msgs: Vec<String> = failed
        .iter()
        .map(|(i, s)| {
            let f = &chain.functions[*i];
            let what = match (&s.error, s.status) {
                (Some(e), _) => e.clone(),
                (None, Some(st)) => crate::report::status_text(st.code(), st.signal()),
                (None, None) => "failed".into(),
            };
            let hint = match s.status.and_then(|st| st.code()) {
                Some(127) if f.image.is_none() => " (command not found)",
                Some(126) if f.image.is_none() => " (command not executable)",
                Some(125) if f.image.is_some() => " (docker could not run the container)",
                _ => "",
            };
            let killed = if s.killed {
                ", stopped by the runner"
            } else {
                ""
            };
            format!("function {} {:?}: {what}{hint}{killed}", i + 1, f.name)
        })
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// Progress lines go to stderr only when it is a terminal.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}
