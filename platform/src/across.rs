//! An invocation on a node of a cluster: placed first ([`cluster::place`]);
//! when every function lands here it runs as on a lone node (module
//! `invoke`), else it is spread: each run of neighbours placed on a peer
//! is a segment that peer runs ([`crate::peer`]), the functions placed here
//! run here, an edge between two functions on one node is a ring, and an
//! edge between nodes is a TCP stream ([`crate::tcp_edges`]) that its two
//! functions read and write as a plain fd. A node that goes away
//! mid-invocation fails it with a 502 naming the node; its neighbours here
//! see EOF or EPIPE.

use crate::cluster::{self, Node, Place};
use crate::invoke::{self, Context, Counted, Outcome, Request, Target};
use crate::local_part::{self, Part};
use crate::peer::{EdgeAddr, Segment, SegmentRequest};
use crate::pool::Pool;
use crate::service::Service;
use crate::tcp_edges::{self, Grant};
use faasin_runner::invocation::{Ends, Output};
use faasin_runner::report::unix_now;
use faasin_runner::Transport;
use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a peer's stream into this node may take once it has answered.
const STREAM_WAIT: Duration = Duration::from_secs(10);
/// How long segments still running may take to say how they ended once
/// the functions here have failed.
const FAILED_GRACE: Duration = Duration::from_secs(2);

/// Runs one invocation, across nodes if placement spreads it.
pub fn run(
    svc: &Service,
    req: &Request,
    input: Box<dyn Read + Send>,
    output: Output,
    ctx: &Context<'_>,
) -> Outcome {
    let (node, places) = match (&svc.node, plan(svc, &req.target)) {
        (Some(node), Ok(Some(places))) => (node, places),
        (_, Ok(_)) => {
            let mut o = invoke::run(req, input, output, ctx, &svc.metrics);
            if let (Some(node), true) = (&svc.node, spreadable(svc, &req.target)) {
                let here = vec![Place::Here; req.target.pools.len()];
                o.report["edges"] = edges_report(node, &req.target, &here).into();
            }
            return o;
        }
        (_, Err(e)) => {
            svc.metrics.error("placement");
            let error = format!("chain {:?}: {e}", req.target.name);
            return Outcome {
                status: 503,
                retry_after: None,
                report: serde_json::json!({
                    "id": req.id, "state": "done", "ok": false, "status": 503, "error": error,
                    "target": {"kind": req.target.kind, "name": req.target.name},
                }),
                error: Some(error),
                lambda_error: None,
            };
        }
    };
    spread(svc, node, req, &places, input, output, ctx)
}

/// A chain over rings can be spread; stored transports and lone functions
/// run here.
fn spreadable(svc: &Service, t: &Target) -> bool {
    t.kind == "chain"
        && t.store.is_none()
        && (svc.registry().chain(&t.name)).is_some_and(|c| c.transport == Transport::Faasin)
}

/// Where each function runs, if not all here.
fn plan(svc: &Service, t: &Target) -> Result<Option<Vec<Place>>, String> {
    let Some(node) = &svc.node else {
        return Ok(None);
    };
    if !spreadable(svc, t) {
        return Ok(None);
    }
    let Some(def) = svc.registry().chain(&t.name) else {
        return Ok(None);
    };
    let pins: Vec<_> = (def.functions.iter())
        .map(|f| def.pins.get(f).cloned())
        .collect();
    let room: Vec<bool> = (t.pools.iter())
        .map(|p| p.room(t.pools.iter().filter(|q| q.def.name == p.def.name).count()))
        .collect();
    let places = cluster::place(&node.config, &pins, &room)?;
    Ok(places.iter().any(|p| *p != Place::Here).then_some(places))
}

/// The maximal runs of neighbours placed on the same node.
fn runs(places: &[Place]) -> Vec<(Place, Range<usize>)> {
    let mut out: Vec<(Place, Range<usize>)> = Vec::new();
    for (k, &p) in places.iter().enumerate() {
        match out.last_mut() {
            Some((q, r)) if *q == p => r.end = k + 1,
            _ => out.push((p, k..k + 1)),
        }
    }
    out
}

/// The node that writes edge `e` (the input edge is written here) and the
/// one that reads it (the output edge is read here).
fn ends_of(places: &[Place], e: usize) -> (Place, Place) {
    let w = if e == 0 { Place::Here } else { places[e - 1] };
    let r = places.get(e).copied().unwrap_or(Place::Here);
    (w, r)
}

fn spread(
    svc: &Service,
    node: &Node,
    req: &Request,
    places: &[Place],
    input: Box<dyn Read + Send>,
    mut output: Output,
    ctx: &Context<'_>,
) -> Outcome {
    let t0 = Instant::now();
    let started_unix_s = unix_now();
    let pools = &req.target.pools;
    let here: Vec<usize> = (0..pools.len())
        .filter(|&k| places[k] == Place::Here)
        .collect();
    let here_pools: Vec<Arc<Pool>> = here.iter().map(|&k| Arc::clone(&pools[k])).collect();
    let leased = match invoke::lease(&here_pools, req.queue_wait, &req.cancel) {
        Ok(l) => l,
        Err(refused) => return invoke::refusal(req, refused, &svc.metrics),
    };
    let queued_s = t0.elapsed().as_secs_f64();
    let mut functions: BTreeMap<usize, serde_json::Value> = BTreeMap::new();
    for (&k, l) in here.iter().zip(&leased) {
        functions.insert(k, serde_json::json!({"cold": l.cold}));
    }
    let fed = Arc::new(AtomicU64::new(0));
    let input = Box::new(Counted {
        inner: input,
        count: Arc::clone(&fed),
    });
    let longest = pools.iter().map(|p| p.def.timeout).max();
    let longest = longest.unwrap_or_default();
    let mut errors = Vec::new();
    let (ran, segments, stopped) = match wire(node, req, places) {
        Err(e) => {
            leased
                .into_iter()
                .zip(&here_pools)
                .for_each(|(l, p)| p.give_back(l));
            (Err(e), Vec::new(), None)
        }
        Ok((ends, segments)) => {
            let part = Part {
                id: &req.id,
                positions: here.clone(),
                pools: here_pools,
                leased,
                params: &req.params,
                cancel: &req.cancel,
                timeout: longest,
            };
            let r = local_part::run(part, ends, ctx.workers, input, &mut output);
            (r.report, segments, r.stopped)
        }
    };
    if let Ok(r) = &ran {
        for (j, &k) in here.iter().enumerate() {
            let f = functions.entry(k).or_default();
            f["return_value"] = r.return_values.get(j).cloned().into();
            f["finished_s"] = r.finished_s.get(j).copied().into();
        }
    }
    let grace = if ran.is_ok() { longest } else { FAILED_GRACE };
    let mut node_failed = false;
    for (first, seg) in segments {
        match seg.finish(grace) {
            Ok(fs) => (fs.into_iter().enumerate()).for_each(|(j, f)| {
                functions.insert(first + j, f);
            }),
            Err(e) => {
                node_failed = true;
                errors.push(e);
            }
        }
    }
    if let Err(e) = &ran {
        errors.push(e.clone());
    }
    for (k, p) in pools.iter().enumerate() {
        let f = functions.entry(k).or_default();
        f["name"] = p.def.name.clone().into();
        f["node"] = node.config.name_of(places[k]).into();
        let code = &f["return_value"]["exit_code"];
        if p.def.function.stdio && !code.is_null() && *code != 0 {
            errors.push(format!(
                "function {} ({}) on node {:?}: its program ended with {}",
                k + 1,
                p.def.name,
                node.config.name_of(places[k]),
                f["return_value"]
            ));
        }
    }
    let status = match (errors.is_empty(), node_failed) {
        (true, _) => 200,
        (false, true) => 502,
        (false, false) => invoke::status_of(stopped.as_deref(), &req.cancel),
    };
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    let output_bytes = ran.as_ref().ok().map(|r| r.output_bytes);
    // Relaxed: a statistic.
    let fed = fed.load(Ordering::Relaxed);
    svc.metrics.streamed(fed, output_bytes.unwrap_or(0));
    let ended = (status, &error);
    let mut report = invoke::ran_report(req, ended, (started_unix_s, t0), queued_s, output_bytes);
    report["functions"] = functions.into_values().collect::<Vec<_>>().into();
    report["edges"] = edges_report(node, &req.target, places).into();
    Outcome {
        status,
        error,
        retry_after: None,
        report,
        lambda_error: None,
    }
}

/// Each edge: which functions it joins, on which nodes, and whether it is
/// a ring or crosses hosts.
fn edges_report(node: &Node, t: &Target, places: &[Place]) -> Vec<serde_json::Value> {
    let name = |k: usize| t.pools[k].def.name.clone();
    (0..=places.len())
        .map(|e| {
            let (w, r) = ends_of(places, e);
            serde_json::json!({
                "from": if e == 0 { "input".into() } else { name(e - 1) },
                "to": if e == places.len() { "output".into() } else { name(e) },
                "from_node": node.config.name_of(w),
                "to_node": node.config.name_of(r),
                "kind": if w == r { "ring" } else { "tcp" },
            })
        })
        .collect()
}

/// Sets every edge up: rings here, segments asked of peers (last first, so
/// that each one's output is granted before it is asked), TCP streams
/// between nodes. Returns the ends of the functions here, and the segments.
fn wire(
    node: &Node,
    req: &Request,
    places: &[Place],
) -> Result<(Ends, Vec<(usize, Segment)>), String> {
    let n = places.len();
    let caps = &req.target.capacities;
    let mut reads: Vec<Option<OwnedFd>> = (0..=n).map(|_| None).collect();
    let mut writes: Vec<Option<OwnedFd>> = (0..=n).map(|_| None).collect();
    let mut grants: BTreeMap<usize, Grant> = BTreeMap::new();
    for e in 0..=n {
        match ends_of(places, e) {
            (Place::Here, Place::Here) => {
                let (r, w) = faasin::pipe_fds(caps[e.saturating_sub(1)])
                    .map_err(|err| format!("cannot create a ring: {err}"))?;
                reads[e] = Some(r);
                writes[e] = Some(w);
            }
            (_, Place::Here) => {
                grants.insert(e, node.edges.grant());
            }
            _ => {}
        }
    }
    // Where each segment's input edge is to be connected.
    let mut inputs: BTreeMap<usize, EdgeAddr> = BTreeMap::new();
    let mut segments = Vec::new();
    for (place, range) in runs(places).into_iter().rev() {
        let Place::Peer(i) = place else { continue };
        let output = match grants.get(&range.end) {
            Some(g) => EdgeAddr {
                addr: node.edges.addr(),
                token: g.token.clone(),
            },
            None => inputs[&range.end].clone(),
        };
        let sreq = SegmentRequest {
            id: req.id.clone(),
            first: range.start,
            functions: (range.clone())
                .map(|k| req.target.pools[k].def.name.clone())
                .collect(),
            capacities: caps[range.clone()].to_vec(),
            params: req.params.clone(),
            output,
        };
        let peer = &node.config.peers[i];
        // The peer may queue for instances as long as this node would.
        let wait = req.queue_wait + STREAM_WAIT;
        let (seg, input) = Segment::request(&node.client, peer, &sreq, wait)?;
        inputs.insert(range.start, input);
        segments.push((range.start, seg));
    }
    for (&e, to) in &inputs {
        if ends_of(places, e).0 == Place::Here {
            let s = tcp_edges::connect(to.addr, &to.token).map_err(|err| {
                let peer = node.config.name_of(ends_of(places, e).1);
                format!(
                    "node {peer:?}: cannot connect an edge to {}: {err}",
                    to.addr
                )
            })?;
            writes[e] = Some(s.into());
        }
    }
    // A peer connects its output before it answers: these are here or on
    // their way.
    for (e, g) in grants {
        let s = g.stream(STREAM_WAIT).ok_or_else(|| {
            let peer = node.config.name_of(ends_of(places, e).0);
            format!("node {peer:?}: its stream into this node did not come")
        })?;
        reads[e] = Some(s.into());
    }
    let instances = (0..n)
        .filter(|&k| places[k] == Place::Here)
        .map(|k| {
            let missing = || format!("edge {k} or {} has no end here", k + 1);
            Ok((
                Some(reads[k].take().ok_or_else(missing)?),
                Some(writes[k + 1].take().ok_or_else(missing)?),
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ends = Ends {
        instances,
        feed: writes[0].take(),
        drain: reads[n].take(),
    };
    Ok((ends, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_neighbours_on_one_node() {
        let (h, b, c) = (Place::Here, Place::Peer(0), Place::Peer(1));
        let r = runs(&[h, b, b, h, c]);
        assert_eq!(r, [(h, 0..1), (b, 1..3), (h, 3..4), (c, 4..5)]);
        assert_eq!(ends_of(&[b, h], 0), (h, b));
        assert_eq!(ends_of(&[b, h], 1), (b, h));
        assert_eq!(ends_of(&[b, h], 2), (h, h));
    }
}
