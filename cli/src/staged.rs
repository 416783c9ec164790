//! `--transport redis` and `--transport file`: the same, unchanged functions
//! run the way today's platforms chain them. Each function's whole output is
//! stored (SET into Redis, or a file on tmpfs); the next function starts only
//! when the previous one has ended, and its input is read back (GET) and fed
//! to it. A function cannot tell: its faasin and faasout are a plain pipe or
//! file, which core's `Reader`/`Writer` use with plain read/write.
//!
//! Redis: the runner reads the function's faasout pipe to EOF, SETs it, and
//! for the next function GETs it and writes it into that one's faasin pipe.
//! File: the function writes its faasout file itself and the next one reads
//! it as its faasin; the runner only opens them.

use crate::chain::{Chain, Function};
use crate::report::{EdgeReport, FunctionReport, Report};
use crate::resp::{self, Conn, Reply};
use crate::runner::{self, Options, SetupError, Transport, KILL_AFTER, TICK};
use crate::signals;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) enum Store {
    Redis {
        addr: String,
        /// Ours to stop at the end; `None` for `--redis ADDR`.
        server: Option<resp::Server>,
        prefix: String,
    },
    File {
        dir: PathBuf,
    },
}

impl Store {
    pub(crate) fn open(opts: &Options, run_id: &str) -> Result<Store, SetupError> {
        match opts.transport {
            Transport::Redis => {
                let (addr, server) = match &opts.redis {
                    Some(a) => (a.clone(), None),
                    None => {
                        let s = resp::Server::start().map_err(SetupError)?;
                        (s.addr.clone(), Some(s))
                    }
                };
                match Conn::connect(&addr).and_then(|mut c| c.call(&[b"PING"])) {
                    Ok(Reply::Simple(p)) if p == "PONG" => {}
                    Ok(r) => {
                        return Err(SetupError(format!(
                            "--transport redis: {addr} answered PING with {r:?}"
                        )))
                    }
                    Err(e) => {
                        return Err(SetupError(format!(
                            "--transport redis: cannot reach Redis at {addr}: {e}"
                        )))
                    }
                }
                Ok(Store::Redis {
                    addr,
                    server,
                    prefix: format!("faasin:{run_id}:"),
                })
            }
            Transport::File => {
                let base = opts.store_dir.clone().unwrap_or_else(|| {
                    let shm = PathBuf::from("/dev/shm");
                    if shm.is_dir() {
                        shm
                    } else {
                        std::env::temp_dir()
                    }
                });
                let dir = base.join(format!("faasin-{run_id}"));
                std::fs::create_dir(&dir).map_err(|e| {
                    SetupError(format!(
                        "--transport file: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
                Ok(Store::File { dir })
            }
            _ => unreachable!("staged transports only"),
        }
    }

    fn key(&self, edge: usize) -> String {
        match self {
            Store::Redis { prefix, .. } => format!("{prefix}{edge}"),
            Store::File { dir } => dir.join(format!("edge-{edge}")).display().to_string(),
        }
    }

    fn path(&self, edge: usize) -> PathBuf {
        PathBuf::from(self.key(edge))
    }

    fn conn(&self) -> io::Result<Conn> {
        match self {
            Store::Redis { addr, .. } => Conn::connect(addr),
            Store::File { .. } => unreachable!("redis only"),
        }
    }

    /// Stores a whole value (the chain's input; a Redis function's output).
    pub(crate) fn put(&self, edge: usize, data: &[u8]) -> io::Result<()> {
        match self {
            Store::Redis { .. } => {
                let key = self.key(edge);
                self.conn()?
                    .call(&[b"SET", key.as_bytes(), data])
                    .map(|_| ())
            }
            Store::File { .. } => std::fs::write(self.path(edge), data),
        }
    }

    pub(crate) fn get(&self, edge: usize) -> io::Result<Vec<u8>> {
        match self {
            Store::Redis { .. } => {
                let key = self.key(edge);
                match self.conn()?.call(&[b"GET", key.as_bytes()])? {
                    Reply::Bulk(v) => Ok(v),
                    r => Err(io::Error::other(format!("GET {key}: {r:?}"))),
                }
            }
            Store::File { .. } => std::fs::read(self.path(edge)),
        }
    }

    pub(crate) fn describe(&self, op_s: &[(usize, Option<f64>, Option<f64>)]) -> serde_json::Value {
        let ops: Vec<_> = op_s
            .iter()
            .map(|(e, put, get)| serde_json::json!({"edge": e, "put_s": put, "get_s": get}))
            .collect();
        match self {
            Store::Redis { addr, server, .. } => serde_json::json!({
                "kind": "redis",
                "addr": addr,
                "started_by_runner": server.is_some(),
                "server_max_rss_bytes": server.as_ref().and_then(resp::Server::peak_rss),
                "ops": ops,
            }),
            Store::File { dir } => serde_json::json!({
                "kind": "file",
                "dir": dir.display().to_string(),
                "ops": ops,
            }),
        }
    }

    /// Removes what the chain stored: nothing is left behind in a shared
    /// Redis or on tmpfs (which is memory).
    pub(crate) fn clear(&self, edges: usize) {
        match self {
            Store::Redis { .. } => {
                if let Ok(mut c) = self.conn() {
                    for e in 0..=edges {
                        let k = self.key(e);
                        let _ = c.call(&[b"DEL", k.as_bytes()]);
                    }
                }
            }
            Store::File { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// What happened to one function.
#[derive(Default)]
struct Stage {
    start: Option<Instant>,
    end: Option<Instant>,
    status: Option<ExitStatus>,
    error: Option<String>,
    first_in: Option<Instant>,
    first_out: Option<Instant>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
    max_rss: Option<u64>,
    ret: Option<serde_json::Value>,
    killed: bool,
    notes: Vec<String>,
}

impl Stage {
    fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| !s.success())
    }
}

/// Writes `data` into a function's input pipe, noting when the first byte
/// went in.
fn feed(mut w: File, data: &[u8]) -> (io::Result<u64>, Option<Instant>) {
    let mut first = None;
    let mut done = 0;
    while done < data.len() {
        let end = (done + (1 << 20)).min(data.len());
        match w.write(&data[done..end]) {
            Ok(n) => {
                first.get_or_insert_with(Instant::now);
                done += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), first),
        }
    }
    (Ok(done as u64), first)
}

/// Reads a function's whole output pipe, noting when the first byte came.
fn collect(mut r: File) -> (io::Result<Vec<u8>>, Option<Instant>) {
    let mut out = Vec::new();
    let mut first = None;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (Ok(out), first),
            Ok(n) => {
                first.get_or_insert_with(Instant::now);
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), first),
        }
    }
}

fn pipe(capacity: usize) -> io::Result<(File, File)> {
    let (r, w) = runner::os_pipe()?;
    // The same buffer as a ring; a refusal keeps the default.
    // SAFETY: fcntl on our own pipe fd.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, capacity as libc::c_int) };
    Ok((File::from(r), File::from(w)))
}

type Feeder = JoinHandle<(io::Result<u64>, Option<Instant>, f64)>;
type Collector = JoinHandle<(io::Result<u64>, Option<Instant>, Option<f64>)>;

pub fn run(chain: &Chain, opts: &Options) -> Result<Report, SetupError> {
    let n = chain.functions.len();
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
    let mut input: Box<dyn Read> = match &opts.input {
        Some(p) => Box::new(
            File::open(p)
                .map_err(|e| SetupError(format!("cannot open input file {}: {e}", p.display())))?,
        ),
        None => Box::new(File::from(
            runner::dup_std(0).map_err(|e| SetupError(format!("cannot use stdin: {e}")))?,
        )),
    };
    let mut output = runner::open_output(opts)?;
    // The whole input comes first, as an event payload does, and before
    // anything is started: a Ctrl-C while it is typed leaves nothing behind.
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|e| SetupError(format!("reading the input failed: {e}")))?;
    drop(input);
    let run_id = crate::handoff_server::random_token()[..8].to_string();
    let store = Store::open(opts, &run_id)?;

    let start = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    signals::install();
    let mut guard = crate::guard::Guard::start(&opts.docker, &run_id);
    if let Store::Redis {
        server: Some(s), ..
    } = &store
    {
        guard.group(s.pid());
    }
    let secs = |t: Option<Instant>| t.map(|t| t.duration_since(start).as_secs_f64());
    let mut notes = Vec::new();
    let mut reason: Option<String> = None;
    let mut store_error: Option<String> = None;
    // Per edge: bytes stored, seconds of the put and of the get.
    let mut stored: Vec<Option<u64>> = vec![None; n + 1];
    let mut fed: Vec<Option<u64>> = vec![None; n + 1];
    let mut ops: Vec<(usize, Option<f64>, Option<f64>)> =
        (0..=n).map(|e| (e, None, None)).collect();

    // The chain's input is the first stored value.
    let t = Instant::now();
    let input_ok = store
        .put(0, &data)
        .map_err(|e| format!("storing the chain's input failed: {e}"));
    ops[0].1 = Some(t.elapsed().as_secs_f64());
    let input_bytes = data.len() as u64;
    drop(data);
    if let Err(e) = input_ok {
        store_error = Some(e);
    } else {
        stored[0] = Some(input_bytes);
    }

    let mut stages: Vec<Stage> = (0..n).map(|_| Stage::default()).collect();
    for (i, f) in chain.functions.iter().enumerate() {
        if store_error.is_some() || reason.is_some() || stages.iter().any(Stage::failed) {
            break;
        }
        let st = run_stage(i, f, opts, &store, &mut guard, start, &mut reason, &mut ops);
        match st {
            Ok((stage, got_in, put_out, store_err)) => {
                fed[i] = got_in;
                stored[i + 1] = put_out;
                if let Some(e) = store_err {
                    store_error = Some(format!("function {} {:?}: {e}", i + 1, f.name));
                }
                stages[i] = stage;
            }
            Err(e) => {
                stages[i].error = Some(e);
            }
        }
    }

    let mut output_bytes = 0;
    let finished = stages.iter().all(|s| s.status.is_some_and(|s| s.success()));
    if finished && store_error.is_none() && reason.is_none() {
        let t = Instant::now();
        match store.get(n) {
            Ok(v) => {
                ops[n].2 = Some(t.elapsed().as_secs_f64());
                fed[n] = Some(v.len() as u64);
                match output.write_all(&v).and_then(|_| output.flush()) {
                    Ok(()) => output_bytes = v.len() as u64,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => notes
                        .push("the output was closed before the chain ended (EPIPE)".to_string()),
                    Err(e) => notes.push(format!("writing the output failed: {e}")),
                }
            }
            Err(e) => store_error = Some(format!("reading the chain's output back failed: {e}")),
        }
    }
    // The chain is over when its output is out; clearing the store and
    // stopping a private redis-server are not part of it.
    let elapsed_s = start.elapsed().as_secs_f64();
    guard.done();
    let store_json = store.describe(&ops);
    store.clear(n);
    drop(store);

    let mut functions = Vec::with_capacity(n);
    for (f, s) in chain.functions.iter().zip(&stages) {
        let mut fnotes = s.notes.clone();
        if s.start.is_none() && s.error.is_none() {
            fnotes.push("not started: the chain stopped before it".into());
        }
        functions.push(FunctionReport {
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
            return_value: s.ret.clone(),
            start_s: secs(s.start),
            handoff_s: None,
            first_byte_s: secs(s.first_out),
            first_in_s: secs(s.first_in),
            end_s: secs(s.end),
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            max_rss_bytes: s.max_rss,
            notes: fnotes,
        });
    }
    let edges = (0..=n)
        .map(|i| {
            let (from, to) = chain.edge_ends(i);
            EdgeReport {
                from,
                to,
                capacity: chain.functions[i.saturating_sub(1)].capacity,
                written: stored[i],
                consumed: fed[i],
            }
        })
        .collect();
    let failures: Vec<String> = stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.failed())
        .map(|(i, s)| {
            let what = match (&s.error, s.status) {
                (Some(e), _) => e.clone(),
                (None, Some(st)) => crate::report::status_text(st.code(), st.signal()),
                (None, None) => "failed".into(),
            };
            let hint = match s.status.and_then(|st| st.code()) {
                Some(127) => " (command not found)",
                Some(126) => " (command not executable)",
                _ => "",
            };
            format!(
                "function {} {:?}: {what}{hint}",
                i + 1,
                chain.functions[i].name
            )
        })
        .collect();
    let error = reason
        .or(store_error)
        .or_else(|| (!failures.is_empty()).then(|| failures.join("; ")))
        .or_else(|| notes.first().cloned());
    Ok(Report {
        ok: error.is_none(),
        error,
        interrupted_by: signals::received(),
        transport: opts.transport.name().into(),
        started_unix_s: started_unix,
        elapsed_s,
        input_bytes,
        output_bytes,
        refused_handoffs: 0,
        runner_max_rss_bytes: crate::report::self_max_rss(),
        store: Some(store_json),
        notes,
        functions,
        edges,
    })
}

/// Runs function `i` alone: its stored input in, its whole output stored.
/// Returns the stage, the bytes fed to it, the bytes stored from it, and a
/// store error (the function may have been fine).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn run_stage(
    i: usize,
    f: &Function,
    opts: &Options,
    store: &Store,
    guard: &mut crate::guard::Guard,
    start: Instant,
    reason: &mut Option<String>,
    ops: &mut [(usize, Option<f64>, Option<f64>)],
) -> Result<(Stage, Option<u64>, Option<u64>, Option<String>), String> {
    let mut stage = Stage::default();
    let is_redis = matches!(store, Store::Redis { .. });
    // The function's two ends, and what the runner keeps of them.
    let (fn_in, fn_out, mut keep_in, mut keep_out) = if is_redis {
        let (ir, iw) = pipe(f.capacity).map_err(|e| format!("cannot create a pipe: {e}"))?;
        let (or, ow) = pipe(f.capacity).map_err(|e| format!("cannot create a pipe: {e}"))?;
        (ir, ow, Some(iw), Some(or))
    } else {
        let inp = File::open(store.path(i))
            .map_err(|e| format!("cannot open {}: {e}", store.path(i).display()))?;
        let out = File::create(store.path(i + 1))
            .map_err(|e| format!("cannot create {}: {e}", store.path(i + 1).display()))?;
        // Our copies share the file offset with the function's: after it
        // ends, the input's offset says how much it read.
        let (ki, ko) = (
            inp.try_clone().map_err(|e| e.to_string())?,
            out.try_clone().map_err(|e| e.to_string())?,
        );
        (inp, out, Some(ki), Some(ko))
    };

    let mut cmd = runner::build_command(f, None, None, None, &opts.docker);
    cmd.stderr(Stdio::inherit());
    cmd.process_group(0);
    guard.mark(&mut cmd);
    runner::die_with_runner(&mut cmd);
    if f.stdio {
        cmd.stdin(Stdio::from(OwnedFd::from(
            fn_in.try_clone().map_err(|e| e.to_string())?,
        )));
        cmd.stdout(Stdio::from(OwnedFd::from(
            fn_out.try_clone().map_err(|e| e.to_string())?,
        )));
    } else {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        cmd.env(faasin::ENV_INPUT_FD, "3")
            .env(faasin::ENV_OUTPUT_FD, "4");
        runner::place_ends(&mut cmd, fn_in.as_raw_fd(), fn_out.as_raw_fd());
    }
    stage.start = Some(Instant::now());
    let spawned = cmd.spawn();
    // The function holds the only copies of its pipe ends now: its exit is
    // EOF for the collector and EPIPE for the feeder.
    drop(cmd);
    drop((fn_in, fn_out));
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            stage.end = stage.start;
            stage.error = Some(format!("could not start {:?}: {e}", f.command.argv()[0]));
            return Ok((stage, None, None, None));
        }
    };
    let pid = child.id() as i32;
    guard.group(pid);
    let ret = child
        .stdout
        .take()
        .map(|mut o| std::thread::spawn(move || runner::read_return(&mut o)));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = runner::wait_rusage(pid);
        drop(child);
        let _ = tx.send((r, Instant::now()));
    });

    let (feeder, collector): (Option<Feeder>, Option<Collector>) = if is_redis {
        let key_in = i;
        let get_store = StoreRef::of(store, key_in);
        let put_store = StoreRef::of(store, i + 1);
        let w = keep_in.take().expect("kept");
        let feeder = std::thread::spawn(move || {
            let t = Instant::now();
            match get_store.get() {
                Ok(v) => {
                    let got = t.elapsed().as_secs_f64();
                    let (r, first) = feed(w, &v);
                    (r, first, got)
                }
                Err(e) => (Err(e), None, t.elapsed().as_secs_f64()),
            }
        });
        let r = keep_out.take().expect("kept");
        let collector = std::thread::spawn(move || {
            let (v, first) = collect(r);
            match v {
                Ok(v) => {
                    let t = Instant::now();
                    let res = put_store.put(&v).map(|_| v.len() as u64);
                    (res, first, Some(t.elapsed().as_secs_f64()))
                }
                Err(e) => (Err(e), first, None),
            }
        });
        (Some(feeder), Some(collector))
    } else {
        stage.first_in = stage.start;
        (None, None)
    };

    // Wait for the function, minding signals, the timeout and (for files)
    // when its first output byte shows.
    let mut seen_signals = signals::count();
    let mut kill_at: Option<Instant> = None;
    let ((status, rss), end) = loop {
        match rx.recv_timeout(TICK) {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break (
                    (Err(io::Error::other("lost the wait thread")), None),
                    Instant::now(),
                )
            }
        }
        let now = Instant::now();
        if !is_redis
            && stage.first_out.is_none()
            && keep_out
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .is_some_and(|m| m.len() > 0)
        {
            stage.first_out = Some(now);
        }
        let sigs = signals::count();
        let mut stop = None;
        if sigs > seen_signals {
            seen_signals = sigs;
            stop = Some(format!(
                "interrupted by {}",
                signals::name(signals::received().unwrap_or(libc::SIGINT))
            ));
        }
        if let (Some(t), None) = (opts.timeout, &reason) {
            if now.duration_since(start) >= t {
                stop = Some(format!("the chain timed out after {} s", t.as_secs_f64()));
            }
        }
        if let Some(why) = stop {
            if reason.is_none() {
                *reason = Some(why);
                // SAFETY: kill(2) on the function's own process group.
                unsafe { libc::kill(-pid, libc::SIGTERM) };
                stage.killed = true;
                kill_at = Some(now + KILL_AFTER);
            } else {
                kill_at = Some(now);
            }
        }
        if kill_at.is_some_and(|t| now >= t) {
            // SAFETY: kill(2) on the function's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            kill_at = Some(now + Duration::from_secs(3600));
        }
    };
    stage.end = Some(end);
    stage.max_rss = rss;
    match status {
        Ok(s) => stage.status = Some(s),
        Err(e) => stage.error = Some(format!("waiting for it failed: {e}")),
    }
    // Whatever it left in its group would hold its output open.
    // SAFETY: kill(2) with signal 0 only checks that the group has members.
    if unsafe { libc::kill(-pid, 0) } == 0 {
        // SAFETY: kill(2) on the function's own process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        stage
            .notes
            .push("left processes running in its process group; the runner killed them".into());
    }
    stage.ret = match ret.map(JoinHandle::join) {
        Some(Ok((bytes, truncated))) => {
            if truncated {
                stage
                    .notes
                    .push(format!("return value cut at {} bytes", runner::MAX_RETURN));
            }
            Some(crate::report::return_value(&bytes))
        }
        _ => None,
    };

    let mut store_err = None;
    let (mut got_in, mut put_out) = (None, None);
    if let (Some(feeder), Some(collector)) = (feeder, collector) {
        let ok = stage.status.is_some_and(|s| s.success());
        match feeder.join() {
            Ok((r, first, get_s)) => {
                ops[i].2 = Some(get_s);
                stage.first_in = first;
                match r {
                    Ok(n) => got_in = Some(n),
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        if ok {
                            stage
                                .notes
                                .push("ended without reading all of its input".into());
                        }
                    }
                    Err(e) => store_err = Some(format!("getting its input failed: {e}")),
                }
            }
            Err(_) => store_err = Some("the feeder thread panicked".into()),
        }
        match collector.join() {
            Ok((r, first, put_s)) => {
                ops[i + 1].1 = put_s;
                stage.first_out = first;
                match r {
                    Ok(n) => put_out = Some(n),
                    Err(e) if ok => {
                        store_err.get_or_insert(format!("storing its output failed: {e}"));
                    }
                    Err(_) => {}
                }
            }
            Err(_) => store_err = Some("the collector thread panicked".into()),
        }
        stage.bytes_in = got_in;
        stage.bytes_out = put_out;
    } else {
        let read = keep_in.as_mut().and_then(|f| f.stream_position().ok());
        let size = std::fs::metadata(store.path(i)).ok().map(|m| m.len());
        if let (Some(r), Some(s)) = (read, size) {
            if r < s && stage.status.is_some_and(|s| s.success()) {
                stage.notes.push(format!(
                    "ended with {} of its input unread",
                    crate::report::human_bytes(s - r)
                ));
            }
        }
        stage.bytes_in = read;
        put_out = keep_out
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len());
        got_in = read;
        stage.bytes_out = put_out;
        if stage.first_out.is_none() && put_out.is_some_and(|n| n > 0) {
            stage.first_out = stage.end;
        }
    }
    Ok((stage, got_in, put_out, store_err))
}

/// What a feeder or collector thread needs of the store: an address and a
/// key, so that the threads own their connection.
struct StoreRef {
    addr: String,
    key: String,
}

impl StoreRef {
    fn of(store: &Store, edge: usize) -> StoreRef {
        let addr = match store {
            Store::Redis { addr, .. } => addr.clone(),
            Store::File { .. } => unreachable!("redis only"),
        };
        StoreRef {
            addr,
            key: store.key(edge),
        }
    }

    fn get(&self) -> io::Result<Vec<u8>> {
        match Conn::connect(&self.addr)?.call(&[b"GET", self.key.as_bytes()])? {
            Reply::Bulk(v) => Ok(v),
            r => Err(io::Error::other(format!("GET {}: {r:?}", self.key))),
        }
    }

    fn put(&self, v: &[u8]) -> io::Result<()> {
        Conn::connect(&self.addr)?
            .call(&[b"SET", self.key.as_bytes(), v])
            .map(|_| ())
    }
}
