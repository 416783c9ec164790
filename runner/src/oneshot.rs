//! A one-shot run over rings or pipes: one stream between each pair of
//! neighbours, every function started at once with its ends, the runner
//! feeding the first and draining the last, then return values and exit
//! statuses collected into a [`Report`].

use crate::chain::{Chain, Function};
use crate::containers;
use crate::edge::Edge;
use crate::guard::Guard;
use crate::handoff_server::{self, HandoffServer};
use crate::options::{Options, SetupError};
use crate::process::{self, HandoffAt};
use crate::pumps::{self, Meter};
use crate::report::Report;
use crate::run_io::RunIo;
use crate::signals;
use crate::supervise::{Event, Slot, Supervisor};
use faasin::{Reader, Writer};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

/// How a function gets its ends.
enum Ends {
    /// On the handoff socket, under this token.
    Offered(String),
    /// At fds 3 and 4.
    Inherited(OwnedFd, OwnedFd),
    /// Through its stdin and stdout, copied by adapter threads.
    Adapted(OwnedFd, OwnedFd),
}

/// The runner's own ends: it writes edge 0 and reads edge n.
struct Pumps {
    input: JoinHandle<io::Result<()>>,
    output: JoinHandle<io::Result<()>>,
}

/// Everything a one-shot run holds while its functions run.
struct OneShot<'a> {
    chain: &'a Chain,
    opts: &'a Options,
    edges: Vec<Edge>,
    slots: Vec<Slot>,
    server: Option<HandoffServer>,
    guard: Guard,
    run_id: String,
    tx: mpsc::Sender<Event>,
    adapters: Vec<JoinHandle<()>>,
    start: Instant,
}

/// Runs the chain once; the report says how it went. Setup errors (a
/// missing image, an unreadable input file) come before anything starts.
pub fn run(chain: &Chain, opts: &Options) -> Result<Report, SetupError> {
    if chain.functions.iter().any(|f| f.image.is_some()) {
        containers::check_images(chain, &opts.docker)?;
    }
    let io = RunIo::open(opts)?;
    let start = Instant::now();
    let started_unix_s = crate::report::unix_now();
    let mut edges = Vec::with_capacity(chain.functions.len() + 1);
    for i in 0..=chain.functions.len() {
        // Edge i feeds function i; its capacity is that of the writer's
        // side (edge 0: the first function's, as the runner is its writer).
        let cap = chain.functions[i.saturating_sub(1)].capacity;
        edges.push(
            Edge::new(opts.transport, cap)
                .map_err(|e| SetupError(format!("cannot create a ring of {cap} bytes: {e}")))?,
        );
    }
    let needs_server = chain.functions.iter().any(uses_handoff);
    let server = needs_server
        .then(HandoffServer::start)
        .transpose()
        .map_err(|e| SetupError(format!("cannot serve the handoff socket: {e}")))?;
    signals::install();
    let run_id = handoff_server::random_token()[..8].to_string();
    let (tx, rx) = mpsc::channel();
    let mut run = OneShot {
        chain,
        opts,
        edges,
        slots: Slot::each_of(chain),
        server,
        guard: Guard::start(&opts.docker, &run_id),
        run_id,
        tx,
        adapters: Vec::new(),
        start,
    };
    let pumps = run.start_pumps(io);
    for i in 0..chain.functions.len() {
        run.start_function(i);
    }
    Ok(run.finish(pumps, rx, started_unix_s))
}

/// A function that takes its ends from the handoff socket.
fn uses_handoff(f: &Function) -> bool {
    !f.stdio && (f.image.is_some() || f.handoff)
}

impl OneShot<'_> {
    fn start_pumps(&mut self, io: RunIo) -> Pumps {
        let RunIo {
            mut input,
            mut output,
        } = io;
        let n = self.chain.functions.len();
        let in_meter = Arc::new(Meter::new(self.start));
        self.edges[0].written = Some(in_meter.clone());
        let in_writer = self.edges[0].write.take().expect("fresh edge");
        let input = std::thread::spawn(move || -> io::Result<()> {
            let w = Writer::from_fd(in_writer)?;
            pumps::into_stream(&mut *input, w, &in_meter)
        });
        let out_meter = Arc::new(Meter::new(self.start));
        self.edges[n].consumed = Some(out_meter.clone());
        let out_reader = self.edges[n].read.take().expect("fresh edge");
        let output = std::thread::spawn(move || -> io::Result<()> {
            let r = Reader::from_fd(out_reader)?;
            pumps::from_stream(r, &mut *output, &out_meter)
        });
        Pumps { input, output }
    }

    /// Starts function `i` with its two ends: inherited at fds 3 and 4, taken
    /// from the handoff socket, or (stdio) copied to and from its stdin and
    /// stdout by two adapter threads.
    fn start_function(&mut self, i: usize) {
        let f = &self.chain.functions[i];
        let input = self.edges[i]
            .read
            .take()
            .expect("each read end is taken once");
        let output = (self.edges[i + 1].write.take()).expect("each write end is taken once");
        let container = containers::name(f, &self.run_id, i);
        let ends = self.hand_out(i, input, output);
        let token = match &ends {
            Ends::Offered(t) => Some(t.as_str()),
            _ => None,
        };
        let handoff = self.server.as_ref().zip(token).map(|(s, t)| HandoffAt {
            dir: s.dir(),
            socket: s.socket(),
            token: t,
        });
        let mut cmd = process::command(f, container.as_deref(), handoff, &self.opts.docker);
        cmd.stderr(Stdio::inherit()).stdout(Stdio::piped());
        cmd.stdin(if f.stdio {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        if let Ends::Inherited(inp, out) = &ends {
            process::place_ends(&mut cmd, inp.as_raw_fd(), out.as_raw_fd());
        }
        self.slots[i].start = Some(Instant::now());
        let tx = self.tx.clone();
        let on_exit = move |exit| {
            let _ = tx.send(Event::Exit(i, exit));
        };
        let spawned = process::spawn(cmd, &mut self.guard, container.as_deref(), on_exit);
        match (spawned, ends) {
            (Ok(mut child), ends) => {
                if let Ends::Adapted(inp, out) = ends {
                    self.adapt_stdio(i, &mut child, inp, out);
                }
                // Inherited ends close here, right after the spawn: the child
                // holds the only copies, so its exit is seen downstream (EOF)
                // and upstream (EPIPE).
                let slot = &mut self.slots[i];
                slot.pid = Some(child.pid);
                slot.container = container;
                if let Some(mut out) = child.stdout.take() {
                    slot.ret = Some(std::thread::spawn(move || process::read_return(&mut out)));
                }
            }
            (Err(e), ends) => {
                let what = match &f.image {
                    Some(_) => "docker".to_string(),
                    None => f.command.argv()[0].clone(),
                };
                let slot = &mut self.slots[i];
                slot.error = Some(format!("could not start {what:?}: {e}"));
                slot.end = slot.start;
                if let (Some(s), Ends::Offered(t)) = (&self.server, ends) {
                    s.withdraw(&t);
                }
            }
        }
    }

    /// How function `i` gets its ends: offered on the handoff socket (the
    /// token is kept in its slot too), adapted to stdio, or inherited.
    fn hand_out(&mut self, i: usize, input: OwnedFd, output: OwnedFd) -> Ends {
        let f = &self.chain.functions[i];
        if uses_handoff(f) {
            let server = self.server.as_ref().expect("started for handoff functions");
            let tx = self.tx.clone();
            let token = server.offer(Some(input), Some(output), move |at| {
                let _ = tx.send(Event::Granted(i, at));
            });
            self.slots[i].token = Some(token.clone());
            Ends::Offered(token)
        } else if f.stdio {
            Ends::Adapted(input, output)
        } else {
            Ends::Inherited(input, output)
        }
    }

    /// Two threads hold a stdio function's ring ends and copy between them
    /// and the child's plain pipes.
    fn adapt_stdio(
        &mut self,
        i: usize,
        child: &mut process::Spawned,
        input: OwnedFd,
        output: OwnedFd,
    ) {
        let m_in = Arc::new(Meter::new(self.start));
        let m_out = Arc::new(Meter::new(self.start));
        self.edges[i].consumed = Some(m_in.clone());
        self.edges[i + 1].written = Some(m_out.clone());
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        self.adapters.push(std::thread::spawn(move || {
            // A child that stops reading makes this fail with EPIPE; the
            // ring end then closes and the upstream function gets EPIPE in
            // turn, as in a shell pipeline.
            if let Ok(r) = Reader::from_fd(input) {
                let _ = pumps::from_stream(r, &mut stdin, &m_in);
            }
        }));
        self.adapters.push(std::thread::spawn(move || {
            if let Ok(w) = Writer::from_fd(output) {
                let _ = pumps::into_stream(&mut stdout, w, &m_out);
            }
        }));
    }

    /// Supervises the chain to its end, cleans up, and makes the report.
    fn finish(mut self, pumps: Pumps, rx: mpsc::Receiver<Event>, started_unix_s: f64) -> Report {
        // Only the functions' wait threads and the handoff server send now.
        let tx = std::mem::replace(&mut self.tx, mpsc::channel().0);
        drop(tx);
        let outcome = Supervisor::new(self.opts, self.start).run(
            self.chain,
            &mut self.slots,
            &self.edges,
            &rx,
            self.server.as_ref(),
        );
        for s in &self.slots {
            if let Some(pid) = s.pid {
                process::kill_leftovers(pid);
            }
        }
        if outcome.is_some() || self.slots.iter().any(Slot::failed) {
            crate::supervise::remove_containers(&self.slots, &self.opts.docker);
        }
        if let Some(server) = &self.server {
            for t in self.slots.iter().filter_map(|s| s.token.as_deref()) {
                server.withdraw(t);
            }
        }
        self.guard.done();
        let refused = self.server.take().map_or(0, |s| s.refused());
        let notes = pump_notes(pumps, &self.chain.functions[0].name);
        for a in self.adapters.drain(..) {
            if a.is_finished() {
                let _ = a.join();
            }
        }
        for s in &mut self.slots {
            if let Some(r) = s.ret.take().and_then(|h| h.join().ok()) {
                s.returned(r);
            }
        }
        crate::oneshot_report::build(crate::oneshot_report::Parts {
            chain: self.chain,
            opts: self.opts,
            slots: &mut self.slots,
            edges: &self.edges,
            outcome,
            notes,
            refused,
            start: self.start,
            started_unix_s,
        })
    }
}

/// What the runner's own pumps have to say: the output thread is joined;
/// the input thread may be blocked reading a terminal that nobody will type
/// into, so it is only asked how it went if it is done.
fn pump_notes(pumps: Pumps, first: &str) -> Vec<String> {
    let mut notes = Vec::new();
    match pumps.output.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            notes.push("the output was closed before the chain ended (EPIPE)".to_string())
        }
        Ok(Err(e)) => notes.push(format!("writing the output failed: {e}")),
        Err(_) => notes.push("the output thread panicked".into()),
    }
    if pumps.input.is_finished() {
        match pumps.input.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => notes.push(format!(
                "function 1 ({first}) ended before reading all of the input"
            )),
            Ok(Err(e)) => notes.push(format!("reading the input failed: {e}")),
            Err(_) => notes.push("the input thread panicked".into()),
        }
    }
    notes
}
