//! One invocation: lease an instance of every function of its target from
//! their pools, run it on fresh rings between them (the runner's
//! `invocation::streamed`), give the instances back, and say how it went.

use crate::lambda_outcome::{HostOutcome, LambdaError};
use crate::metrics::Metrics;
use crate::pool::{Leased, Lent, Pool, Refused, RingCache, SERVICE};
use faasin_runner::chain::Chain;
use faasin_runner::invocation::{self, Output};
use faasin_runner::report::{unix_now, InvocationReport};
use faasin_runner::store::Store;
use faasin_runner::warm_chain::WarmChain;
use faasin_runner::workers::Workers;
use faasin_runner::Transport;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What is invoked: a chain, or one function alone.
pub struct Target {
    /// "chain" or "function".
    pub kind: &'static str,
    pub name: String,
    /// In chain order; a function may appear more than once.
    pub pools: Vec<Arc<Pool>>,
    /// Ring capacity of the edge each function writes into.
    pub capacities: Vec<usize>,
    /// Where a stored transport keeps each function's output; `None`:
    /// rings stream.
    pub store: Option<Arc<Store>>,
}

pub struct Request {
    pub id: String,
    pub target: Target,
    /// The query string and selected headers.
    pub params: serde_json::Value,
    /// Set when the client went away.
    pub cancel: Arc<AtomicBool>,
    /// How long to wait in a queue for instances.
    pub queue_wait: Duration,
}

/// How an invocation went: the HTTP status it deserves and its report.
pub struct Outcome {
    pub status: u16,
    pub error: Option<String>,
    /// For 429 and 503: when to try again, in seconds.
    pub retry_after: Option<u64>,
    pub report: serde_json::Value,
    /// The error of a Lambda function's runtime, in Lambda's shape.
    pub lambda_error: Option<LambdaError>,
}

/// Runs one invocation to its end.
pub fn run(
    req: &Request,
    input: Box<dyn Read + Send>,
    output: Output,
    ctx: &Context<'_>,
    metrics: &Metrics,
) -> Outcome {
    let t0 = Instant::now();
    let started_unix_s = unix_now();
    let leased = match lease(&req.target.pools, req.queue_wait, &req.cancel) {
        Ok(l) => l,
        Err(refused) => return refusal(req, refused, metrics),
    };
    let queued_s = t0.elapsed().as_secs_f64();
    let cold: Vec<bool> = leased.iter().map(|l| l.cold).collect();
    let fed = Arc::new(AtomicU64::new(0));
    let input = Box::new(Counted {
        inner: input,
        count: Arc::clone(&fed),
    });
    let (mut ran, stopped) = run_on(req, leased, input, output, ctx, t0);
    let failed_lambda = ran.as_mut().ok().and_then(|inv| lambda_outcomes(req, inv));
    let (status, error) = match &ran {
        Ok(inv) => match (&failed_lambda, failed_program(req, inv)) {
            (Some((status, e, _)), _) => (*status, Some(e.clone())),
            (None, Some(e)) => (502, Some(e)),
            (None, None) => (200, None),
        },
        Err(e) => (status_of(stopped.as_deref(), &req.cancel), Some(e.clone())),
    };
    let lambda_error = failed_lambda.map(|(_, _, e)| e);
    let output_bytes = ran.as_ref().ok().map(|i| i.output_bytes);
    // Relaxed: a statistic (after a failure the feeder may still add some).
    metrics.streamed(fed.load(Ordering::Relaxed), output_bytes.unwrap_or(0));
    let mut report = ran_report(
        req,
        (status, &error),
        (started_unix_s, t0),
        queued_s,
        output_bytes,
    );
    report["functions"] = functions_report(req, &ran, &cold).into();
    report["kept_edges"] = ran.as_ref().ok().map(|i| i.kept_edges).into();
    report["lambda_error"] = serde_json::json!(lambda_error);
    Outcome {
        status,
        error,
        retry_after: None,
        report,
        lambda_error,
    }
}

/// The report of an invocation that ran (its functions are the caller's
/// to add): how it ended, and when it started (Unix seconds, and here).
pub fn ran_report(
    req: &Request,
    (status, error): (u16, &Option<String>),
    (started_unix_s, t0): (f64, Instant),
    queued_s: f64,
    output_bytes: Option<u64>,
) -> serde_json::Value {
    serde_json::json!({
        "id": req.id,
        "state": "done",
        "target": {"kind": req.target.kind, "name": req.target.name},
        "ok": error.is_none(),
        "status": status,
        "error": error,
        "params": req.params,
        "started_unix_s": started_unix_s,
        "queued_s": queued_s,
        "elapsed_s": t0.elapsed().as_secs_f64(),
        "output_bytes": output_bytes,
    })
}

/// Runs the invocation on the instances leased for it, then gives them
/// back. Returns how it ran, and why the engine stopped it, if it did.
fn run_on(
    req: &Request,
    mut leased: Vec<Leased>,
    input: Box<dyn Read + Send>,
    mut output: Output,
    ctx: &Context<'_>,
    t0: Instant,
) -> (Result<InvocationReport, String>, Option<String>) {
    let pools = &req.target.pools;
    for (k, l) in leased.iter_mut().enumerate() {
        l.instance.name = format!("function {} ({})", k + 1, pools[k].def.name);
        if let Ok(mut t) = l.tag.lock() {
            t.clone_from(&req.id);
        }
    }
    let chain = Chain {
        functions: (pools.iter().zip(&req.target.capacities))
            .map(|(p, &capacity)| faasin_runner::chain::Function {
                capacity,
                ..p.def.function.clone()
            })
            .collect(),
    };
    // Edge k: its writer, its reader, its capacity (the writer's side's).
    let serials: Vec<u64> = leased.iter().map(|l| l.serial).collect();
    let edges: Vec<(u64, u64, usize)> = (0..=serials.len())
        .map(|k| {
            let w = if k == 0 { SERVICE } else { serials[k - 1] };
            let r = serials.get(k).copied().unwrap_or(SERVICE);
            (w, r, req.target.capacities[k.saturating_sub(1)])
        })
        .collect();
    let streamed = req.target.store.is_none();
    let rings = match streamed {
        true => edges
            .iter()
            .map(|&(w, r, c)| ctx.rings.take(w, r, c))
            .collect(),
        false => Vec::new(),
    };
    let longest = pools.iter().map(|p| p.def.timeout).max();
    let (instances, lent) = Lent::split(leased);
    let mut w = WarmChain::assemble(
        &chain,
        instances,
        rings,
        if streamed {
            Transport::Faasin
        } else {
            Transport::Pipe
        },
        ctx.workers.clone(),
        Some(t0 + longest.unwrap_or_default()),
        Some(Arc::clone(&req.cancel)),
    );
    let ran = w
        .set_params(serde_json::to_vec(&req.params).unwrap_or_default())
        .and_then(|()| match &req.target.store {
            None => invocation::streamed(&mut w, input, &mut output),
            Some(store) => stored(&mut w, store, &req.id, input, &mut output),
        });
    let stopped = w.stopped();
    let (instances, rings) = w.into_parts();
    if ran.is_ok() {
        // Every end of its streams is closed: the same parties' next
        // invocation may open new ones on this memory.
        for (&(w, r, c), ring) in edges.iter().zip(rings) {
            if let Some(ring) = ring {
                ctx.rings.keep(w, r, c, ring);
            }
        }
    }
    lent.give_back(instances, pools);
    (ran, stopped)
}

/// What every invocation shares: threads for its pumps, and the ring memory
/// kept between invocations.
pub struct Context<'a> {
    pub workers: &'a Workers,
    pub rings: &'a RingCache,
}

/// The request body, counted as it is read.
pub struct Counted {
    pub inner: Box<dyn Read + Send>,
    pub count: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Relaxed: a statistic, read once the invocation is over.
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The status quo for comparison: the whole request body first, then each
/// function on the whole output of the one before, kept in `store`.
fn stored(
    w: &mut WarmChain<'_>,
    store: &Store,
    id: &str,
    mut input: Box<dyn Read + Send>,
    output: &mut Output,
) -> Result<InvocationReport, String> {
    let mut payload = Vec::new();
    input
        .read_to_end(&mut payload)
        .map_err(|e| format!("reading the request body failed: {e}"))?;
    let scoped = store
        .scoped(id)
        .map_err(|e| format!("cannot use the store: {e}"))?;
    let mut ops = Vec::new();
    let ran = invocation::staged(w, &scoped, Arc::from(payload), output, &mut ops);
    scoped.clear(w.instances.len());
    ran
}

/// Leases an instance of each of `pools`, in their order; pools are asked
/// in name order, each for all it must give, so that invocations that need
/// the same functions never hold some while waiting for others.
pub fn lease(
    pools: &[Arc<Pool>],
    queue_wait: Duration,
    cancel: &AtomicBool,
) -> Result<Vec<Leased>, Refused> {
    let mut need: BTreeMap<&str, (&Arc<Pool>, usize)> = BTreeMap::new();
    for p in pools {
        need.entry(p.def.name.as_str()).or_insert((p, 0)).1 += 1;
    }
    let mut got: BTreeMap<&str, Vec<Leased>> = BTreeMap::new();
    for (name, (pool, n)) in &need {
        match pool.lease(*n, queue_wait, cancel) {
            Ok(mut l) => {
                // Popped below in the order leased, which is the order they
                // were given back in: the next invocation of a chain that
                // has a function more than once puts each instance where
                // it was, next to the neighbours it keeps edges with.
                l.reverse();
                got.insert(name, l);
            }
            Err(e) => {
                for (name, ls) in got {
                    ls.into_iter().for_each(|l| need[name].0.give_back(l));
                }
                return Err(e);
            }
        }
    }
    Ok(pools
        .iter()
        .map(|p| {
            got.get_mut(p.def.name.as_str())
                .and_then(Vec::pop)
                .expect("leased")
        })
        .collect())
}

pub fn refusal(req: &Request, refused: Refused, metrics: &Metrics) -> Outcome {
    let (status, kind, retry_after, why) = match refused {
        Refused::QueueFull => (
            429,
            "queue_full",
            Some(1),
            "too many invocations wait already".to_string(),
        ),
        Refused::QueueTimeout => (
            503,
            "queue_timeout",
            Some(1),
            "no instance was free in time".to_string(),
        ),
        Refused::Closed => (
            503,
            "replaced",
            Some(1),
            "the function was replaced or deleted".to_string(),
        ),
        Refused::Cancelled => (499, "cancelled", None, "the client went away".to_string()),
        Refused::Start(e) => (502, "start", None, e),
    };
    metrics.error(kind);
    let error = format!("{} {:?}: {why}", req.target.kind, req.target.name);
    Outcome {
        status,
        retry_after,
        report: serde_json::json!({
            "id": req.id,
            "state": "done",
            "target": {"kind": req.target.kind, "name": req.target.name},
            "ok": false,
            "status": status,
            "error": error,
        }),
        error: Some(error),
        lambda_error: None,
    }
}

/// 499 when the client went away (whether the engine stopped for it or its
/// input broke off first), 504 when the time ran out, else 502.
pub fn status_of(stopped: Option<&str>, cancel: &AtomicBool) -> u16 {
    // Relaxed: the body reader sets the flag before it hands the broken
    // upload to the invocation through a channel, which orders the two.
    if cancel.load(Ordering::Relaxed) {
        return 499;
    }
    match stopped {
        Some(s) if s.starts_with("timed out") => 504,
        Some(s) if s.starts_with("cancelled") => 499,
        _ => 502,
    }
}

/// A stdio function's program that exited non-zero fails the invocation
/// (its watchdog returns the program's status).
fn failed_program(req: &Request, inv: &InvocationReport) -> Option<String> {
    let pools = &req.target.pools;
    for (k, (p, v)) in pools.iter().zip(&inv.return_values).enumerate() {
        if !p.def.function.stdio {
            continue;
        }
        let (code, signal) = (&v["exit_code"], &v["signal"]);
        if code != 0 {
            let how = match (code.as_i64(), signal.as_i64()) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                _ => format!("ended with {v}"),
            };
            return Some(format!("function {} ({}): {how}", k + 1, p.def.name));
        }
    }
    None
}

/// A Lambda function's return value is its host's outcome: it becomes the
/// handler's result (`null` if it failed or went to the faasout), and the
/// first failure fails the invocation: its status, message and error.
fn lambda_outcomes(
    req: &Request,
    inv: &mut InvocationReport,
) -> Option<(u16, String, LambdaError)> {
    let mut first = None;
    let values = inv.return_values.iter_mut();
    for (k, (p, v)) in req.target.pools.iter().zip(values).enumerate() {
        if p.def.lambda.is_none() {
            continue;
        }
        let Some(o) = HostOutcome::from_return_value(v) else {
            continue;
        };
        *v = o.result.unwrap_or_default();
        if let (Some(e), None) = (o.error, &first) {
            let why = format!(
                "function {} ({}): {}: {}",
                k + 1,
                p.def.name,
                e.error_type,
                e.error_message
            );
            first = Some((o.status, why, e));
        }
    }
    first
}

fn functions_report(
    req: &Request,
    ran: &Result<InvocationReport, String>,
    cold: &[bool],
) -> Vec<serde_json::Value> {
    req.target
        .pools
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let inv = ran.as_ref().ok();
            serde_json::json!({
                "name": p.def.name,
                "cold": cold[k],
                "return_value": inv.and_then(|i| i.return_values.get(k)),
                "finished_s": inv.and_then(|i| i.finished_s.get(k)),
            })
        })
        .collect()
}

/// Marks a request's invocation as cancelled (its client went away).
pub fn cancel(flag: &AtomicBool) {
    // Relaxed: a flag polled by the invocation's thread; nothing is
    // published through it.
    flag.store(true, Ordering::Relaxed);
}
