//! The report of a one-shot run over rings or pipes, from what the run
//! knows of its functions and edges once they are all over.

use crate::chain::{Chain, Function};
use crate::edge::Edge;
use crate::options::Options;
use crate::report::{human_bytes, return_value, status_text, EdgeReport, FunctionReport, Report};
use crate::supervise::Slot;
use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

/// Everything the report is made from.
pub struct Parts<'a> {
    pub chain: &'a Chain,
    pub opts: &'a Options,
    pub slots: &'a mut [Slot],
    pub edges: &'a [Edge],
    /// Why the runner stopped the chain, if it did.
    pub outcome: Option<String>,
    pub notes: Vec<String>,
    pub refused: u64,
    pub start: Instant,
    pub started_unix_s: f64,
}

pub fn build(p: Parts<'_>) -> Report {
    let n = p.chain.functions.len();
    let mut functions: Vec<FunctionReport> = Vec::with_capacity(n);
    for i in 0..n {
        let mut fr = function_report(i, p.chain, &mut p.slots[i], p.edges, p.start);
        // Where the runner did not write the input itself, it was there
        // when the function before wrote its first byte.
        fr.first_in_s = match p.edges[i].first_written_s() {
            Some(counted) => counted,
            None => functions.last().and_then(|f| f.first_byte_s),
        };
        functions.push(fr);
    }
    let edges = p
        .edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (from, to) = p.chain.edge_ends(i);
            EdgeReport {
                from,
                to,
                capacity: e.capacity,
                written: e.written(),
                consumed: e.consumed(),
            }
        })
        .collect();
    let error = p.outcome.or_else(|| failures(p.chain, p.slots));
    Report {
        ok: error.is_none(),
        error,
        interrupted_by: crate::signals::received(),
        transport: p.opts.transport.name().into(),
        started_unix_s: p.started_unix_s,
        elapsed_s: p.start.elapsed().as_secs_f64(),
        input_bytes: p.edges[0].written().unwrap_or(0),
        output_bytes: p.edges[n].consumed().unwrap_or(0),
        refused_handoffs: p.refused,
        runner_max_rss_bytes: crate::process::peak_rss(None),
        store: None,
        notes: p.notes,
        functions,
        edges,
    }
}

fn function_report(
    i: usize,
    chain: &Chain,
    s: &mut Slot,
    edges: &[Edge],
    start: Instant,
) -> FunctionReport {
    let f = &chain.functions[i];
    let secs = |t: Option<Instant>| t.map(|t| t.duration_since(start).as_secs_f64());
    if let (Some(w), Some(c), Some(st)) = (edges[i].written(), edges[i].consumed(), s.status) {
        if w > c && st.success() {
            let unread = human_bytes(w - c);
            s.notes
                .push(format!("ended with {unread} of its input unread"));
        }
    }
    let first_out = match edges[i + 1].first_written_s() {
        Some(counted) => counted,
        // Sampled: it happened before the sample, and before the writer
        // ended, whichever is earlier.
        None => secs(match (s.first_out, s.end) {
            (Some(t), Some(e)) => Some(t.min(e)),
            (t, _) => t,
        }),
    };
    FunctionReport {
        name: f.name.clone(),
        kind: kind(f).into(),
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
        return_value: s.returned.as_deref().filter(|_| !f.stdio).map(return_value),
        start_s: secs(s.start),
        handoff_s: secs(s.handoff_at),
        first_byte_s: first_out,
        first_in_s: None,
        end_s: secs(s.end),
        bytes_in: edges[i].consumed(),
        bytes_out: edges[i + 1].written(),
        max_rss_bytes: s.max_rss,
        notes: s.notes.clone(),
    }
}

/// "process" or "container".
pub fn kind(f: &Function) -> &'static str {
    if f.image.is_some() {
        "container"
    } else {
        "process"
    }
}

/// Every failed function, in the order they ended, with its status and a
/// hint where the status says more than its number.
pub fn failures(chain: &Chain, slots: &[Slot]) -> Option<String> {
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
                (None, Some(st)) => status_text(st.code(), st.signal()),
                (None, None) => "failed".into(),
            };
            let hint = exit_hint(f, s.status.and_then(|st| st.code()));
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

/// What an exit code means when the shell or docker gave it.
pub fn exit_hint(f: &Function, code: Option<i32>) -> &'static str {
    match code {
        Some(127) if f.image.is_none() => " (command not found)",
        Some(126) if f.image.is_none() => " (command not executable)",
        Some(125) if f.image.is_some() => " (docker could not run the container)",
        _ => "",
    }
}
