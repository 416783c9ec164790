//! The invocation API: `POST /chains/{name}` and `POST /functions/{name}`
//! stream the request body into the first function and the last one's
//! output back as the response body; `GET /invocations/{id}` tells how an
//! invocation went; `GET /metrics` is for Prometheus.
//!
//! The response starts with the first byte of output (or when the
//! invocation ends without any): an invocation that fails before it has
//! output gets its status (502, 504, 429, 503) and a JSON error; one that
//! fails after its output began has its response cut off (no final chunk),
//! and its report says why.

use crate::bridge;
use crate::invoke::{self, Outcome, Request, Target};
use crate::lambda_outcome::LambdaError;
use crate::service::Service;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The header that carries an invocation's id.
pub const ID_HEADER: &str = "faasin-invocation-id";

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/chains/{name}", post(invoke_chain))
        .route("/functions/{name}", post(invoke_function))
        .route("/invocations/{id}", get(result))
        .route("/metrics", get(metrics))
        // Bodies stream: no size limit, and never collected.
        .layer(DefaultBodyLimit::disable())
        .with_state(svc)
}

async fn invoke_chain(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = svc.chain_target(&name);
    invoke_target(svc, target, "chain", &name, &uri, &headers, body).await
}

async fn invoke_function(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = svc.function_target(&name).map(Ok);
    invoke_target(svc, target, "function", &name, &uri, &headers, body).await
}

/// Invokes a target, if it is deployed (404) and can be run (503).
async fn invoke_target(
    svc: Arc<Service>,
    target: Option<Result<Target, String>>,
    kind: &str,
    name: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match target {
        Some(Ok(t)) => invoke(svc, t, uri, headers, body).await,
        Some(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, None, e),
        None => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no {kind} {name:?} is deployed"),
        ),
    }
}

async fn result(State(svc): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    match svc.results.get(&id) {
        Some(r) => axum::Json(r).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no invocation {id:?} is known"),
        ),
    }
}

async fn metrics(State(svc): State<Arc<Service>>) -> Response {
    let ct = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, ct)], svc.metrics.render()).into_response()
}

/// The invocation's parameters: its id, the query string, and the request
/// headers the service passes on.
fn params(id: &str, uri: &Uri, headers: &HeaderMap, passed: &[String]) -> serde_json::Value {
    let query = query_params(uri.query().unwrap_or(""));
    let headers: serde_json::Map<String, serde_json::Value> = passed
        .iter()
        .filter_map(|h| {
            let v = headers.get(h.as_str())?.to_str().ok()?;
            Some((h.to_ascii_lowercase(), v.into()))
        })
        .collect();
    serde_json::json!({"id": id, "query": query, "headers": headers})
}

/// A query string as the `query` object of an invocation's parameters:
/// each `key=value` (or bare `key`) decoded; a key given twice keeps its
/// last value. Public for the fuzz target only.
#[doc(hidden)]
pub fn query_params(query: &str) -> serde_json::Map<String, serde_json::Value> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), serde_json::Value::String(decode(v)))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn invoke(
    svc: Arc<Service>,
    target: Target,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let id = faasin_runner::handoff_server::random_token()[..16].to_string();
    let cancel = Arc::new(AtomicBool::new(false));
    let (input, uploaded) = bridge::body_reader(body, {
        let c = Arc::clone(&cancel);
        move || invoke::cancel(&c)
    });
    let params = params(&id, uri, headers, &svc.config.headers);
    let size = params.to_string().len();
    if size > faasin::handoff::MAX_PARAMS {
        let why = format!(
            "the invocation's parameters (query string and passed headers) take {size} bytes, over {}",
            faasin::handoff::MAX_PARAMS
        );
        return error(StatusCode::BAD_REQUEST, Some(&id), why);
    }
    let (writer, mut chunks) = bridge::response_writer();
    let (done_tx, mut done) = oneshot::channel::<Outcome>();
    let req = Request {
        params,
        id: id.clone(),
        target,
        cancel: Arc::clone(&cancel),
        queue_wait: svc.config.queue_wait,
    };
    let target = serde_json::json!({"kind": req.target.kind, "name": req.target.name});
    let running = serde_json::json!({"id": id, "state": "running", "target": target});
    svc.results.put(&id, running);
    let begun = svc.begin(&id, &cancel);
    let t0 = Instant::now();
    tokio::task::spawn_blocking(move || {
        let ctx = invoke::Context {
            workers: &svc.workers,
            rings: &svc.starter.rings,
        };
        let outcome = crate::across::run(&svc, &req, Box::new(input), Box::new(writer), &ctx);
        let target = format!("{}/{}", req.target.kind, req.target.name);
        svc.metrics
            .invoked(&target, outcome.status, t0.elapsed().as_secs_f64());
        if let Some(e) = &outcome.error {
            eprintln!(
                "faasin serve: [{}] {target}: {} {e}",
                req.id, outcome.status
            );
        }
        svc.results.put(&req.id, outcome.report.clone());
        drop(begun);
        let _ = done_tx.send(outcome);
    });
    // Dropped with the handler (the client went away), it cancels.
    let watch = Watch {
        cancel,
        armed: true,
    };
    tokio::select! {
        biased;
        first = chunks.recv() => match first {
            Some(chunk) => streamed(&id, chunk, chunks, done, uploaded, watch),
            None => {
                let o = done.await.ok();
                let _ = uploaded.await;
                watch.disarm();
                ended(&id, o)
            }
        },
        o = &mut done => {
            let _ = uploaded.await;
            watch.disarm();
            ended(&id, o.ok())
        }
    }
}

/// Cancels its invocation when dropped while armed: the client went away
/// before its response was over.
struct Watch {
    cancel: Arc<AtomicBool>,
    armed: bool,
}

impl Watch {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.armed {
            invoke::cancel(&self.cancel);
        }
    }
}

/// The response of an invocation that ended before any output.
fn ended(id: &str, outcome: Option<Outcome>) -> Response {
    let Some(o) = outcome else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(id),
            "the invocation was lost".into(),
        );
    };
    let status = StatusCode::from_u16(o.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut r = match (o.error, o.lambda_error) {
        (None, _) => Response::new(Body::empty()),
        (Some(e), None) => error(status, Some(id), e),
        (Some(e), Some(lambda)) => lambda_error(status, id, e, lambda),
    };
    *r.status_mut() = status;
    if let Some(s) = o.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    with_id(r, id)
}

/// A 200 whose body streams the output as it comes; cut off if the
/// invocation fails before its end. Dropped early (the client went away),
/// it cancels the invocation.
fn streamed(
    id: &str,
    first: Bytes,
    chunks: mpsc::Receiver<Bytes>,
    done: oneshot::Receiver<Outcome>,
    uploaded: oneshot::Receiver<()>,
    watch: Watch,
) -> Response {
    struct Rest {
        first: Option<Bytes>,
        chunks: mpsc::Receiver<Bytes>,
        done: Option<oneshot::Receiver<Outcome>>,
        uploaded: Option<oneshot::Receiver<()>>,
        watch: Option<Watch>,
    }
    let rest = Rest {
        first: Some(first),
        chunks,
        done: Some(done),
        uploaded: Some(uploaded),
        watch: Some(watch),
    };
    let stream = futures_util::stream::unfold(rest, |mut r| async move {
        if let Some(b) = r.first.take() {
            return Some((Ok(b), r));
        }
        if let Some(b) = r.chunks.recv().await {
            return Some((Ok(b), r));
        }
        let outcome = r.done.take()?.await.ok();
        if let Some(w) = r.watch.take() {
            w.disarm();
        }
        // A failure after the output began cuts the response off, once
        // the upload is over (a client still sending would see a reset).
        let e = outcome.and_then(|o| o.error)?;
        if let Some(u) = r.uploaded.take() {
            let _ = u.await;
        }
        Some((Err(io::Error::other(e)), r))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    with_id(resp, id)
}

/// The error of a Lambda function: the usual JSON error with Lambda's
/// fields (`errorType`, `errorMessage`, `stackTrace`) beside, and, when the
/// function itself failed (502), Lambda's `X-Amz-Function-Error` header.
fn lambda_error(status: StatusCode, id: &str, message: String, e: LambdaError) -> Response {
    let mut body = serde_json::json!({"id": id, "error": message});
    if let (Some(b), Ok(serde_json::Value::Object(l))) =
        (body.as_object_mut(), serde_json::to_value(e))
    {
        b.extend(l);
    }
    let mut r = (status, axum::Json(body)).into_response();
    if status == StatusCode::BAD_GATEWAY {
        r.headers_mut().insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    r
}

fn with_id(mut r: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert(ID_HEADER, v);
    }
    r
}

/// A JSON error: `{"id": ..., "error": "..."}`.
pub fn error(status: StatusCode, id: Option<&str>, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"id": id, "error": message})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        let uri: Uri = "/chains/x?name=J%C3%BCrg&flag&n=1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-trace", HeaderValue::from_static("t1"));
        h.insert("cookie", HeaderValue::from_static("secret"));
        let p = params("id1", &uri, &h, &["X-Trace".to_string()]);
        assert_eq!(p["query"]["name"], "Jürg");
        assert_eq!(p["query"]["flag"], "");
        assert_eq!(p["headers"]["x-trace"], "t1");
        assert!(
            p["headers"].get("cookie").is_none(),
            "only the headers named are passed"
        );
    }
}
