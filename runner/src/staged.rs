//! The stored transports (`--transport redis`, `--transport file`): the
//! same, unchanged functions run the way today's platforms chain them. Each
//! function's whole output is stored (SET into Redis, or a file on tmpfs);
//! the next function starts only when the previous one has ended, and its
//! input is read back (GET) and fed to it. A function cannot tell: its
//! faasin and faasout are a plain pipe or file, which core's `Reader` and
//! `Writer` use with plain read/write.
//!
//! Redis (and the runner's memory, `payload`): the runner reads the
//! function's output pipe to EOF and SETs it; for the next function it GETs
//! it and writes it into that one's input pipe. Files: the function writes
//! its output file itself and the next one reads it as its input; the
//! runner only opens them.
//!
//! One-shot runs start a process per stage, warm runs grant an instance its
//! ends; both go through [`run_stages`] and the [`Handover`] here.

use crate::store::{Slot, Store, StoreOp};
use crate::transport::sized_pipe;
use crate::workers::Workers;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// Where a stage's input comes from.
#[derive(Clone)]
pub enum Source {
    /// The value stored on this edge.
    Stored(usize),
    /// Bytes the runner holds (a warm invocation's payload).
    Memory(Arc<[u8]>),
}

/// Where a stage's output goes.
#[derive(Clone, Copy)]
pub enum Sink {
    /// Stored on this edge.
    Stored(usize),
    /// Back to the runner ([`Handed::output`]).
    Memory,
}

/// The ends a stage's function gets.
pub struct StageEnds {
    pub input: OwnedFd,
    pub output: OwnedFd,
}

/// What happened to the bytes of one stage.
#[derive(Default)]
pub struct Handed {
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub first_in: Option<Instant>,
    pub first_out: Option<Instant>,
    /// Reading the input back from the store, and storing the output.
    pub get_s: Option<f64>,
    pub put_s: Option<f64>,
    /// The output, for [`Sink::Memory`].
    pub output: Option<Vec<u8>>,
    /// The store failed (the function may have been fine).
    pub error: Option<String>,
    pub notes: Vec<String>,
}

/// The runner's side of a stage's ends while its function runs.
pub struct Handover {
    input: InputSide,
    output: OutputSide,
    first_out: Option<Instant>,
}

enum InputSide {
    /// A copy of the function's input file: it shares the file offset, so
    /// after the function ends it says how much was read.
    File {
        kept: File,
        size: Option<u64>,
    },
    Fed(mpsc::Receiver<Fed>),
}

enum OutputSide {
    /// A copy of the function's output file, to see it grow.
    File(File),
    Collected {
        done: mpsc::Receiver<Collected>,
        store: Option<Slot>,
    },
}

struct Fed {
    result: io::Result<u64>,
    first: Option<Instant>,
    get_s: Option<f64>,
}

struct Collected {
    result: io::Result<Vec<u8>>,
    first: Option<Instant>,
}

impl Handover {
    /// Makes a stage's ends: files of a file store are the function's own
    /// ends; anything else goes through a pipe that a worker feeds or drains.
    pub fn open(
        store: &Store,
        source: Source,
        sink: Sink,
        capacity: usize,
        workers: &Workers,
    ) -> io::Result<(StageEnds, Handover)> {
        let stored_file = match &source {
            Source::Stored(edge) => match store.slot(*edge) {
                Slot::File(path) => Some(path),
                Slot::Redis { .. } | Slot::Memory { .. } => None,
            },
            Source::Memory(_) => None,
        };
        let (fn_in, input) = match stored_file {
            Some(path) => {
                let f = File::open(&path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                let size = f.metadata().ok().map(|m| m.len());
                let kept = f.try_clone()?;
                (OwnedFd::from(f), InputSide::File { kept, size })
            }
            _ => {
                let (r, w) = sized_pipe(capacity)?;
                (r, InputSide::Fed(feed(source, store, w, workers)))
            }
        };
        let (fn_out, output) = match sink {
            Sink::Stored(edge) => match store.slot(edge) {
                Slot::File(path) => {
                    let f = File::create(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                    let kept = f.try_clone()?;
                    (OwnedFd::from(f), OutputSide::File(kept))
                }
                slot => collect(Some(slot), capacity, workers)?,
            },
            Sink::Memory => collect(None, capacity, workers)?,
        };
        let ends = StageEnds {
            input: fn_in,
            output: fn_out,
        };
        Ok((
            ends,
            Handover {
                input,
                output,
                first_out: None,
            },
        ))
    }

    /// Notes when a function writing a file wrote its first byte; called
    /// while it runs.
    pub fn tick(&mut self) {
        if let (None, OutputSide::File(f)) = (self.first_out, &self.output) {
            if f.metadata().is_ok_and(|m| m.len() > 0) {
                self.first_out = Some(Instant::now());
            }
        }
    }

    /// After the function ended (`ok`: it succeeded): how much went in and
    /// out, and the output stored (or returned, for [`Sink::Memory`]).
    pub fn finish(self, started: Instant, ended: Instant, ok: bool) -> Handed {
        let mut h = Handed::default();
        match self.input {
            InputSide::File { mut kept, size } => {
                h.first_in = Some(started);
                h.bytes_in = kept.stream_position().ok();
                if let (Some(r), Some(s)) = (h.bytes_in, size) {
                    if r < s && ok {
                        let unread = crate::report::human_bytes(s - r);
                        h.notes
                            .push(format!("ended with {unread} of its input unread"));
                    }
                }
            }
            InputSide::Fed(done) => h.fed(done.recv(), ok),
        }
        match self.output {
            OutputSide::File(kept) => {
                h.bytes_out = kept.metadata().ok().map(|m| m.len());
                h.first_out = self
                    .first_out
                    .or_else(|| h.bytes_out.filter(|n| *n > 0).map(|_| ended));
            }
            OutputSide::Collected { done, store } => h.collected(done.recv(), store, ok),
        }
        h
    }
}

impl Handed {
    fn fed(&mut self, done: Result<Fed, mpsc::RecvError>, ok: bool) {
        let Ok(fed) = done else {
            self.error = Some("the feeder thread panicked".into());
            return;
        };
        self.first_in = fed.first;
        self.get_s = fed.get_s;
        match fed.result {
            Ok(n) => self.bytes_in = Some(n),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                if ok {
                    self.notes
                        .push("ended without reading all of its input".into());
                }
            }
            Err(e) => self.error = Some(format!("getting its input failed: {e}")),
        }
    }

    fn collected(
        &mut self,
        done: Result<Collected, mpsc::RecvError>,
        store: Option<Slot>,
        ok: bool,
    ) {
        let Ok(got) = done else {
            self.error = Some("the collector thread panicked".into());
            return;
        };
        self.first_out = got.first;
        let stored = got.result.and_then(|v| {
            let n = v.len() as u64;
            match &store {
                Some(slot) => {
                    let t = Instant::now();
                    slot.put(&v)?;
                    self.put_s = Some(t.elapsed().as_secs_f64());
                }
                None => self.output = Some(v),
            }
            Ok(n)
        });
        match stored {
            Ok(n) => self.bytes_out = Some(n),
            Err(e) if ok => {
                self.error
                    .get_or_insert(format!("storing its output failed: {e}"));
            }
            Err(_) => {}
        }
    }
}

/// A worker writes the stage's input into the function's input pipe: the
/// value read back from the store, or the bytes given.
fn feed(source: Source, store: &Store, w: OwnedFd, workers: &Workers) -> mpsc::Receiver<Fed> {
    let slot = match &source {
        Source::Stored(edge) => Some(store.slot(*edge)),
        Source::Memory(_) => None,
    };
    let (tx, rx) = mpsc::channel();
    workers.run(move || {
        let t = Instant::now();
        let (data, get_s) = match (source, slot) {
            (Source::Memory(d), _) => (Ok(d), None),
            (Source::Stored(_), slot) => {
                let got = slot.expect("a stored source has a slot").get();
                (got.map(Arc::from), Some(t.elapsed().as_secs_f64()))
            }
        };
        let (result, first) = match data {
            Ok(d) => write_noting_first(File::from(w), &d),
            Err(e) => (Err(e), None),
        };
        let _ = tx.send(Fed {
            result,
            first,
            get_s,
        });
    });
    rx
}

/// Writes `data`, noting when the first byte went in.
fn write_noting_first(mut w: File, data: &[u8]) -> (io::Result<u64>, Option<Instant>) {
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

/// A pipe whose read end a worker drains to EOF, noting when the first
/// byte came; the function gets the write end.
fn collect(
    store: Option<Slot>,
    capacity: usize,
    workers: &Workers,
) -> io::Result<(OwnedFd, OutputSide)> {
    let (r, w) = sized_pipe(capacity)?;
    let (tx, done) = mpsc::channel();
    workers.run(move || {
        let mut r = File::from(r);
        let mut out = Vec::new();
        let mut first = None;
        let mut buf = vec![0u8; 1 << 20];
        let result = loop {
            match r.read(&mut buf) {
                Ok(0) => break Ok(out),
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    out.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let _ = tx.send(Collected { result, first });
    });
    Ok((w, OutputSide::Collected { done, store }))
}

/// How one stage's function ran.
pub struct Ran {
    /// When it was started (or granted its ends).
    pub started: Instant,
    /// False: the chain stops after this stage.
    pub ok: bool,
}

/// How a run starts one stage's function and waits for it.
pub trait Stages {
    /// Runs function `i` on `ends` until it has ended, calling `tick`
    /// every [`crate::options::TICK`] meanwhile.
    fn run(&mut self, i: usize, ends: StageEnds, tick: &mut dyn FnMut()) -> Ran;
}

/// Runs the functions one after the other, each on the whole output of the
/// one before: the first reads `input`, the last writes to `last`. Returns
/// what happened to the bytes of each stage that ran.
pub fn run_stages(
    store: &Store,
    input: Source,
    last: Sink,
    capacities: &[usize],
    workers: &Workers,
    stages: &mut dyn Stages,
) -> Vec<Handed> {
    let n = capacities.len();
    let mut handed = Vec::with_capacity(n);
    for (i, &capacity) in capacities.iter().enumerate() {
        let source = if i == 0 {
            input.clone()
        } else {
            Source::Stored(i)
        };
        let sink = if i + 1 == n {
            last
        } else {
            Sink::Stored(i + 1)
        };
        let (ends, mut h) = match Handover::open(store, source, sink, capacity, workers) {
            Ok(x) => x,
            Err(e) => {
                handed.push(Handed {
                    error: Some(format!("cannot set up its streams: {e}")),
                    ..Handed::default()
                });
                break;
            }
        };
        let ran = stages.run(i, ends, &mut || h.tick());
        let r = h.finish(ran.started, Instant::now(), ran.ok);
        let stop = !ran.ok || r.error.is_some();
        handed.push(r);
        if stop {
            break;
        }
    }
    handed
}

/// The store operations of one staged invocation, one entry per operation.
pub fn ops_of(handed: &[Handed]) -> Vec<StoreOp> {
    let mut ops = Vec::new();
    for (i, h) in handed.iter().enumerate() {
        if let Some(get_s) = h.get_s {
            ops.push(StoreOp {
                edge: i,
                put_s: None,
                get_s: Some(get_s),
            });
        }
        if let Some(put_s) = h.put_s {
            ops.push(StoreOp {
                edge: i + 1,
                put_s: Some(put_s),
                get_s: None,
            });
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    /// Each stage upper-cases its input into its output in a thread, as a
    /// function process would; the last one fails when told to.
    struct Upper {
        fail_at: Option<usize>,
    }

    impl Stages for Upper {
        fn run(&mut self, i: usize, ends: StageEnds, tick: &mut dyn FnMut()) -> Ran {
            let started = Instant::now();
            let t = std::thread::spawn(move || {
                let mut v = Vec::new();
                File::from(ends.input).read_to_end(&mut v).unwrap();
                File::from(ends.output)
                    .write_all(&v.to_ascii_uppercase())
                    .unwrap();
            });
            while !t.is_finished() {
                tick();
                std::thread::yield_now();
            }
            t.join().unwrap();
            let ok = self.fail_at != Some(i);
            Ran { started, ok }
        }
    }

    #[test]
    fn every_stage_reads_the_whole_output_of_the_one_before() {
        let store = Store::open(
            Transport::File,
            None,
            Some(&std::env::temp_dir()),
            "stagedtest",
        )
        .unwrap();
        let workers = Workers::new(2).unwrap();
        let input: Arc<[u8]> = Arc::from(&b"hello, stages"[..]);
        let handed = run_stages(
            &store,
            Source::Memory(input),
            Sink::Memory,
            &[4096, 4096, 4096],
            &workers,
            &mut Upper { fail_at: None },
        );
        assert_eq!(handed.len(), 3);
        assert_eq!(handed[2].output.as_deref(), Some(&b"HELLO, STAGES"[..]));
        for h in &handed {
            assert_eq!((h.bytes_in, h.bytes_out), (Some(13), Some(13)));
            assert!(h.error.is_none() && h.first_in.is_some() && h.first_out.is_some());
        }
        // The middle edges are files: no store operation was timed.
        assert!(ops_of(&handed).is_empty());
        let stopped = run_stages(
            &store,
            Source::Memory(Arc::from(&b"x"[..])),
            Sink::Memory,
            &[4096, 4096, 4096],
            &workers,
            &mut Upper { fail_at: Some(1) },
        );
        assert_eq!(stopped.len(), 2, "a failed stage stops the chain");
        store.clear(3);
    }
}
