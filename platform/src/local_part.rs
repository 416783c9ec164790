//! The functions of an invocation that run on this node while others run
//! on peers: instances leased here, each handed the fds of its two edges
//! (a ring to a neighbour on this node, a TCP stream to one elsewhere).

use crate::pool::{Leased, Lent, Pool};
use faasin_runner::chain::Chain;
use faasin_runner::invocation::{self, Ends, Output};
use faasin_runner::report::InvocationReport;
use faasin_runner::warm_chain::WarmChain;
use faasin_runner::workers::Workers;
use faasin_runner::Transport;
use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Part<'a> {
    pub id: &'a str,
    /// The chain positions of the functions here, in order.
    pub positions: Vec<usize>,
    pub pools: Vec<Arc<Pool>>,
    /// One instance per pool, in the same order.
    pub leased: Vec<Leased>,
    pub params: &'a serde_json::Value,
    pub cancel: &'a Arc<AtomicBool>,
    /// How long the part may run: the longest timeout of the invocation's
    /// functions, wherever they run.
    pub timeout: Duration,
}

/// How a part ran: its report, or why it failed and why it was stopped
/// (a timeout, a cancel), if it was.
pub struct Ran {
    pub report: Result<InvocationReport, String>,
    pub stopped: Option<String>,
}

/// Runs the part on `ends` to its end, then gives the instances back.
pub fn run(
    part: Part<'_>,
    ends: Ends,
    workers: &Workers,
    input: Box<dyn Read + Send>,
    output: &mut Output,
) -> Ran {
    let t0 = Instant::now();
    let Part {
        id,
        positions,
        pools,
        mut leased,
        params,
        cancel,
        timeout,
    } = part;
    for ((l, p), k) in leased.iter_mut().zip(&pools).zip(&positions) {
        l.instance.name = format!("function {} ({})", k + 1, p.def.name);
        if let Ok(mut t) = l.tag.lock() {
            *t = id.to_string();
        }
    }
    let chain = Chain {
        functions: pools.iter().map(|p| p.def.function.clone()).collect(),
    };
    let (instances, lent) = Lent::split(leased);
    let mut w = WarmChain::assemble(
        &chain,
        instances,
        Vec::new(),
        Transport::Faasin,
        workers.clone(),
        Some(t0 + timeout),
        Some(Arc::clone(cancel)),
    );
    let report = w
        .set_params(serde_json::to_vec(params).unwrap_or_default())
        .and_then(|()| invocation::streamed_on(&mut w, ends, input, output));
    let stopped = w.stopped();
    let (instances, _) = w.into_parts();
    lent.give_back(instances, &pools);
    Ran { report, stopped }
}
