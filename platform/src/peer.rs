//! The peer API: a node asks another to run a segment of an invocation
//! (neighbouring functions placed there). `POST /segments` answers with a
//! streamed body of two JSON lines: first the grant of the segment's input
//! edge (once the segment's instances are leased and its output edge is
//! connected), then, when its functions are done, their return values or
//! why they failed. A broken connection before the second line is a node
//! that went away; the asking node that goes away cancels the segment.

use crate::cluster::Peer;
use crate::invoke;
use crate::local_part::{self, Part};
use crate::pool::Pool;
use crate::service::Service;
use crate::tcp_edges;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use faasin_runner::chain::check_capacity;
use faasin_runner::invocation::{Ends, Output};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a segment's input stream may take to come once granted.
const INPUT_WAIT: Duration = Duration::from_secs(10);

/// Where a peer connects an edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeAddr {
    pub addr: SocketAddr,
    pub token: String,
}

/// A segment of an invocation, as one node asks another to run it.
#[derive(Serialize, Deserialize)]
pub struct SegmentRequest {
    pub id: String,
    /// The chain position of its first function.
    pub first: usize,
    pub functions: Vec<String>,
    /// Ring capacity of the edge each function writes into (the last one
    /// is a TCP stream and has none).
    pub capacities: Vec<usize>,
    pub params: serde_json::Value,
    /// Where its last function's output goes.
    pub output: EdgeAddr,
}

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/segments", post(segment))
        .with_state(svc)
}

async fn segment(State(svc): State<Arc<Service>>, Json(req): Json<SegmentRequest>) -> Response {
    let refuse =
        |status, e: String| (status, Json(serde_json::json!({"error": e}))).into_response();
    if req.functions.is_empty() || req.capacities.len() != req.functions.len() {
        let e = "a segment needs functions and a capacity for each".to_string();
        return refuse(StatusCode::BAD_REQUEST, e);
    }
    if let Err(e) = req.capacities.iter().try_for_each(|&c| check_capacity(c)) {
        return refuse(StatusCode::BAD_REQUEST, format!("capacities: {e}"));
    }
    let pools: Option<Vec<Arc<Pool>>> = {
        let reg = svc.registry();
        req.functions.iter().map(|f| reg.function(f)).collect()
    };
    let Some(pools) = pools else {
        let e = format!("not every one of {:?} is deployed here", req.functions);
        return refuse(StatusCode::NOT_FOUND, e);
    };
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let cancel = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancel);
    tokio::task::spawn_blocking(move || run_segment(&svc, &req, pools, &tx, &c));
    // Dropped before its end (the asking node went away), it cancels.
    struct Lines {
        rx: mpsc::Receiver<Bytes>,
        cancel: Arc<AtomicBool>,
    }
    impl Drop for Lines {
        fn drop(&mut self) {
            // Cancelling a segment that is over anyway changes nothing.
            invoke::cancel(&self.cancel);
        }
    }
    let lines = Lines { rx, cancel };
    let stream = futures_util::stream::unfold(lines, |mut l| async move {
        let b = l.rx.recv().await?;
        Some((Ok::<_, std::io::Error>(b), l))
    });
    Body::from_stream(stream).into_response()
}

fn run_segment(
    svc: &Service,
    req: &SegmentRequest,
    pools: Vec<Arc<Pool>>,
    tx: &mpsc::Sender<Bytes>,
    cancel: &Arc<AtomicBool>,
) {
    let send = |v: serde_json::Value| {
        let _ = tx.blocking_send(Bytes::from(format!("{v}\n")));
    };
    let Some(node) = &svc.node else {
        return send(serde_json::json!({"error": "this service is not a node of a cluster"}));
    };
    let leased = match invoke::lease(&pools, svc.config.queue_wait, cancel) {
        Ok(l) => l,
        Err(e) => return send(serde_json::json!({"error": format!("no instances: {e:?}")})),
    };
    let cold: Vec<bool> = leased.iter().map(|l| l.cold).collect();
    let give_back = |leased: Vec<crate::pool::Leased>| {
        leased
            .into_iter()
            .zip(&pools)
            .for_each(|(l, p)| p.give_back(l));
    };
    let (first, wait_input) = match wire(node, req) {
        Ok(w) => w,
        Err(e) => {
            give_back(leased);
            return send(serde_json::json!({"error": e}));
        }
    };
    send(first);
    let ran = match wait_input() {
        Ok(ends) => {
            let part = Part {
                id: &req.id,
                positions: (0..pools.len())
                    .map(|k| req.first.saturating_add(k))
                    .collect(),
                pools: pools.clone(),
                leased,
                params: &req.params,
                cancel,
                timeout: pools
                    .iter()
                    .map(|p| p.def.timeout)
                    .max()
                    .unwrap_or_default(),
            };
            let mut sink: Output = Box::new(std::io::sink());
            let none = Box::new(std::io::empty());
            local_part::run(part, ends, &svc.workers, none, &mut sink).report
        }
        Err(e) => {
            give_back(leased);
            Err(e)
        }
    };
    let functions: Vec<serde_json::Value> = (pools.iter().enumerate())
        .map(|(k, p)| {
            let r = ran.as_ref().ok();
            serde_json::json!({
                "name": p.def.name,
                "node": node.config.me.name,
                "cold": cold[k],
                "return_value": r.and_then(|r| r.return_values.get(k)),
                "finished_s": r.and_then(|r| r.finished_s.get(k)),
            })
        })
        .collect();
    send(serde_json::json!({
        "error": ran.as_ref().err(),
        "functions": functions,
    }));
}

type WaitInput = Box<dyn FnOnce() -> Result<Ends, String>>;

/// Connects the segment's output and grants its input: the first line of
/// the answer, and what waits for the input and makes the segment's ends.
fn wire(
    node: &crate::cluster::Node,
    req: &SegmentRequest,
) -> Result<(serde_json::Value, WaitInput), String> {
    let out = tcp_edges::connect(req.output.addr, &req.output.token)
        .map_err(|e| format!("cannot connect its output to {}: {e}", req.output.addr))?;
    let n = req.functions.len();
    // Rings between the segment's own functions.
    let mut rings = Vec::with_capacity(n - 1);
    for &c in &req.capacities[..n - 1] {
        rings.push(faasin::pipe_fds(c).map_err(|e| format!("cannot create a ring: {e}"))?);
    }
    let grant = node.edges.grant();
    let first = serde_json::json!({"input": EdgeAddr {
        addr: node.edges.addr(),
        token: grant.token.clone(),
    }});
    let wait: WaitInput = Box::new(move || {
        let input = grant
            .stream(INPUT_WAIT)
            .ok_or("its input stream did not come")?;
        let mut reads = vec![Some(input.into())];
        let mut writes = Vec::with_capacity(n);
        for (r, w) in rings {
            reads.push(Some(r));
            writes.push(Some(w));
        }
        writes.push(Some(out.into()));
        Ok(Ends {
            instances: reads.into_iter().zip(writes).collect(),
            feed: None,
            drain: None,
        })
    });
    Ok((first, wait))
}

/// A segment running on a peer, as the asking node holds it.
pub struct Segment {
    node: String,
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Segment {
    /// Asks `peer` to run a segment; returns it and where its input goes,
    /// which the peer must say within `wait`.
    pub fn request(
        client: &reqwest::Client,
        peer: &Peer,
        req: &SegmentRequest,
        wait: Duration,
    ) -> Result<(Segment, EdgeAddr), String> {
        let node = peer.info.name.clone();
        let on = |e: String| format!("node {node:?}: {e}");
        let rt = tokio::runtime::Handle::current();
        let response = rt
            .block_on(
                client
                    .post(format!("{}/segments", peer.url))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(req).map_err(|e| on(e.to_string()))?)
                    .send(),
            )
            .map_err(|e| on(format!("cannot reach its peer API: {e}")))?;
        let status = response.status();
        let mut s = Segment {
            node: node.clone(),
            response,
            buf: Vec::new(),
        };
        let first = rt
            .block_on(tokio::time::timeout(wait, s.line()))
            .map_err(|_| on(format!("no answer for {:.0} s", wait.as_secs_f64())))?
            .map_err(&on)?;
        if !status.is_success() {
            return Err(on(format!(
                "refused the segment ({status}): {}",
                first["error"]
            )));
        }
        if let Some(e) = first["error"].as_str() {
            return Err(on(format!("cannot run its segment: {e}")));
        }
        let input = serde_json::from_value(first["input"].clone())
            .map_err(|e| on(format!("answered with no input edge: {e}")))?;
        Ok((s, input))
    }

    /// Its functions' reports once they are done, or why not, within
    /// `within`.
    pub fn finish(mut self, within: Duration) -> Result<Vec<serde_json::Value>, String> {
        let rt = tokio::runtime::Handle::current();
        let node = self.node.clone();
        let on = |e: String| format!("node {node:?}: {e}");
        let done = rt
            .block_on(tokio::time::timeout(within, self.line()))
            .map_err(|_| on(format!("no word from it for {:.0} s", within.as_secs_f64())))?
            .map_err(on)?;
        let functions = done["functions"].as_array().cloned().unwrap_or_default();
        match done["error"].as_str() {
            Some(e) => Err(format!("node {node:?}: {e}")),
            None => Ok(functions),
        }
    }

    async fn line(&mut self) -> Result<serde_json::Value, String> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return serde_json::from_slice(&line)
                    .map_err(|e| format!("answered what is not JSON: {e}"));
            }
            match self.response.chunk().await {
                Ok(Some(c)) => self.buf.extend_from_slice(&c),
                Ok(None) => return Err("went away mid-invocation (its answer ended early)".into()),
                Err(e) => return Err(format!("went away mid-invocation: {e}")),
            }
        }
    }
}
