//! AWS Lambda's Runtime API (`2018-06-01`), served to one runtime interface
//! client by its host (`faasin __lambda`): the client asks for the next
//! invocation (`GET /runtime/invocation/next`, which waits for one), and
//! posts the handler's result (`.../{id}/response`, buffered or streamed
//! with error trailers), its error (`.../{id}/error`), or the failure of its
//! own start (`/runtime/init/error`).
//!
//! The host submits invocations with [`RuntimeApi::submit`] and gets back
//! what the runtime says about each as [`Piece`]s; a runtime that fails as a
//! whole ([`RuntimeApi::fail`]) fails every invocation in flight and every
//! one submitted after.

use crate::lambda_outcome::{LambdaError, PAYLOAD_LIMIT};
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// What the runtime says about an invocation: pieces of its result, then
/// how it ended.
#[derive(Debug)]
pub enum Piece {
    Chunk(Bytes),
    Done(Result<(), LambdaError>),
}

/// An invocation as `next` hands it to the runtime.
pub struct Event {
    pub id: String,
    pub body: Vec<u8>,
    /// Unix time in milliseconds by which it must be over.
    pub deadline_ms: u64,
    pub function_arn: String,
    /// Headers some invocations have (`Lambda-Runtime-Client-Context`).
    pub extra: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct Shared {
    /// The invocations submitted and not over, by request id.
    open: HashMap<String, mpsc::Sender<Piece>>,
    /// Of those, the ones `next` handed to the runtime.
    delivered: HashSet<String>,
    /// Set once the runtime failed as a whole; first failure wins.
    failed: Option<LambdaError>,
    /// The runtime (this start of it) asked for an invocation: its init is
    /// over.
    asked: bool,
    /// The runtime (this start of it) took an invocation.
    took_work: bool,
    /// An invocation is submitted and its host has not finished it.
    busy: bool,
}

pub struct RuntimeApi {
    shared: Mutex<Shared>,
    queue_tx: mpsc::Sender<Event>,
    queue_rx: tokio::sync::Mutex<mpsc::Receiver<Event>>,
}

/// Pieces in flight per invocation.
const PIECES: usize = 8;

impl RuntimeApi {
    pub fn new() -> Arc<RuntimeApi> {
        let (queue_tx, queue_rx) = mpsc::channel(1);
        Arc::new(RuntimeApi {
            shared: Mutex::default(),
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
        })
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands an invocation to the runtime's next `next`; what the runtime
    /// says about it comes out of the receiver. Blocking: call it off the
    /// async runtime. Err: the runtime failed already.
    pub fn submit(&self, event: Event) -> Result<mpsc::Receiver<Piece>, LambdaError> {
        let (tx, rx) = mpsc::channel(PIECES);
        {
            let mut s = self.shared();
            if let Some(e) = &s.failed {
                return Err(e.clone());
            }
            s.open.insert(event.id.clone(), tx);
            s.busy = true;
        }
        let id = event.id.clone();
        if self.queue_tx.blocking_send(event).is_err() {
            self.shared().open.remove(&id);
            return Err(LambdaError::new(
                "Runtime.Unavailable",
                "the Runtime API is gone",
            ));
        }
        Ok(rx)
    }

    /// Forgets an invocation that is over (a late post for it is refused).
    pub fn close(&self, id: &str) {
        let mut s = self.shared();
        s.open.remove(id);
        s.delivered.remove(id);
    }

    /// The runtime starts (again): its init begins.
    pub fn starting(&self) {
        let mut s = self.shared();
        s.asked = false;
        s.took_work = false;
    }

    /// The runtime ended but may start again: the invocations it had taken
    /// end with `error`; those still queued wait for its next start.
    pub fn lost(&self, error: &LambdaError) {
        let taken: Vec<_> = {
            let mut s = self.shared();
            let ids: Vec<String> = s.delivered.drain().collect();
            ids.iter().filter_map(|id| s.open.remove(id)).collect()
        };
        for tx in taken {
            let e = error.clone();
            tokio::spawn(async move {
                let _ = tx.send(Piece::Done(Err(e))).await;
            });
        }
    }

    /// The host has finished its invocation (its result is sent). True if
    /// the runtime failed meanwhile: the host must not take another.
    pub fn finished(&self) -> bool {
        let mut s = self.shared();
        s.busy = false;
        s.failed.is_some()
    }

    /// The runtime failed as a whole: every invocation in flight, and every
    /// one submitted later, ends with `error`. Only the first failure counts.
    /// Returns whether an invocation is in flight (its host then finishes
    /// it, and learns of the failure from [`RuntimeApi::finished`]).
    pub fn fail(&self, error: LambdaError) -> bool {
        // Under one lock with `finished`: exactly one of the two sees both
        // the failure and the end of the invocation.
        let (open, busy) = {
            let mut s = self.shared();
            if s.failed.is_none() {
                s.failed = Some(error);
            }
            (std::mem::take(&mut s.open), s.busy)
        };
        // Dropped, the senders end each invocation's pieces; its host then
        // asks for the failure. A post still running holds its own sender
        // and ends the invocation by itself.
        drop(open);
        busy
    }

    /// Why the runtime failed as a whole, if it did.
    pub fn failure(&self) -> Option<LambdaError> {
        self.shared().failed.clone()
    }

    /// Whether the runtime (this start of it) has asked for an invocation,
    /// and whether it took one.
    pub fn progress(&self) -> (bool, bool) {
        let s = self.shared();
        (s.asked, s.took_work)
    }

    /// The invocation a post is for: one `next` handed out and not over
    /// (an id the runtime has not been given is refused, as Lambda does).
    fn sender(&self, id: &str) -> Option<mpsc::Sender<Piece>> {
        let s = self.shared();
        s.delivered.get(id).and_then(|_| s.open.get(id)).cloned()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(Arc::clone(self))
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    api.shared().asked = true;
    // One `next` at a time takes the queue; a second waits behind it.
    let mut queue = api.queue_rx.lock().await;
    let e = loop {
        let Some(e) = queue.recv().await else {
            return refusal(
                StatusCode::GONE,
                "Runtime.Unavailable",
                "no more invocations",
            );
        };
        let mut s = api.shared();
        // An invocation that ended while queued (its runtime failed, or
        // it timed out) is not handed out.
        if s.open.contains_key(&e.id) {
            s.delivered.insert(e.id.clone());
            s.took_work = true;
            break e;
        }
    };
    drop(queue);
    let mut r = Response::new(Body::from(e.body));
    let h = r.headers_mut();
    let mut put = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put("content-type", "application/json");
    put("lambda-runtime-aws-request-id", &e.id);
    put("lambda-runtime-deadline-ms", &e.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &e.function_arn);
    put("lambda-runtime-trace-id", &trace_id(&e.id));
    for (name, v) in &e.extra {
        put(name, v);
    }
    r
}

/// An X-Ray trace header for an invocation, as Lambda gives one to every
/// invocation (no sampling: nothing here collects traces).
fn trace_id(id: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex = |n: usize| id.chars().cycle().take(n).collect::<String>();
    format!("Root=1-{secs:08x}-{};Parent={};Sampled=0", hex(24), hex(16))
}

/// Lambda's answer to a runtime's accepted post.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

fn refusal(status: StatusCode, error_type: &str, message: &str) -> Response {
    (status, axum::Json(LambdaError::new(error_type, message))).into_response()
}

/// The invocation a post is for, by the request id of its path: its id
/// and its sender, or Lambda's refusal of an id of no invocation waiting.
/// An id that does not decode to text is refused in that same shape, not
/// with axum's plain-text rejection, which a runtime client cannot parse.
fn waiting(
    api: &RuntimeApi,
    path: Result<Path<String>, PathRejection>,
) -> Result<(String, mpsc::Sender<Piece>), Response> {
    let refused = |why: String| refusal(StatusCode::BAD_REQUEST, "InvalidRequestID", &why);
    let Path(id) = path.map_err(|e| refused(format!("not a request id: {e}")))?;
    match api.sender(&id) {
        Some(tx) => Ok((id, tx)),
        None => Err(refused(format!(
            "no invocation {id:?} is waiting for a response"
        ))),
    }
}

const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, tx) = match waiting(&api, path) {
        Ok(w) => w,
        Err(refused) => return refused,
    };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming {
        // The prelude of an HTTP integration (a function URL's status and
        // headers) is not part of the response body.
        let prelude = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(HTTP_INTEGRATION.as_bytes()));
        return streamed(&api, &id, tx, body, prelude).await;
    }
    let body = axum::body::to_bytes(body, PAYLOAD_LIMIT).await;
    api.close(&id);
    match body {
        Ok(b) => {
            let _ = tx.send(Piece::Chunk(b)).await;
            let _ = tx.send(Piece::Done(Ok(()))).await;
            accepted()
        }
        Err(e) => {
            let too_large =
                (e.source()).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let (status, kind, why) = match too_large {
                true => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Function.ResponseSizeTooLarge",
                    format!("the response is over Lambda's limit of {PAYLOAD_LIMIT} bytes"),
                ),
                false => (
                    StatusCode::BAD_REQUEST,
                    "Runtime.TruncatedResponse",
                    format!("the response broke off: {e}"),
                ),
            };
            let _ = tx
                .send(Piece::Done(Err(LambdaError::new(kind, why.clone()))))
                .await;
            refusal(status, kind, &why)
        }
    }
}

/// The content type of a streamed response that begins with a metadata
/// prelude: JSON, then eight NUL bytes.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
/// The most bytes a prelude may take.
const MAX_PRELUDE: usize = 64 << 10;

/// A streamed response: each chunk is passed on as it comes; error
/// trailers, if the runtime sends them, end it as a failure.
async fn streamed(
    api: &RuntimeApi,
    id: &str,
    tx: mpsc::Sender<Piece>,
    mut body: Body,
    prelude: bool,
) -> Response {
    // The prelude read so far, while it lasts.
    let mut prelude = prelude.then(Vec::new);
    let end = loop {
        match body.frame().await {
            None => break Ok(()),
            Some(Err(e)) => {
                break Err(LambdaError::new(
                    "Runtime.TruncatedResponse",
                    format!("the streamed response broke off: {e}"),
                ))
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let data = match skip_prelude(&mut prelude, data) {
                        Ok(d) => d,
                        Err(e) => break Err(e),
                    };
                    if data.is_empty() {
                        continue;
                    }
                    if tx.send(Piece::Chunk(data)).await.is_err() {
                        // The invocation is over (timed out, or its client
                        // went away): the rest is not wanted.
                        break Ok(());
                    }
                }
                Err(frame) => {
                    if let Some(t) = frame.trailers_ref() {
                        if let Some(e) = trailer_error(t) {
                            break Err(e);
                        }
                    }
                }
            },
        }
    };
    api.close(id);
    let _ = tx.send(Piece::Done(end)).await;
    accepted()
}

/// What is left of `data` after the prelude, which `seen` collects until
/// its end (`None` once it is over).
fn skip_prelude(seen: &mut Option<Vec<u8>>, data: Bytes) -> Result<Bytes, LambdaError> {
    let Some(p) = seen else {
        return Ok(data);
    };
    let before = p.len();
    p.extend_from_slice(&data);
    let Some(at) = p.windows(8).position(|w| w == [0; 8]) else {
        if p.len() > MAX_PRELUDE {
            return Err(LambdaError::new(
                "Runtime.InvalidPrelude",
                format!("no end of the response's prelude within {MAX_PRELUDE} bytes"),
            ));
        }
        return Ok(Bytes::new());
    };
    *seen = None;
    Ok(data.slice((at + 8).saturating_sub(before)..))
}

/// The error a streamed response's trailers report, if any: its type, and
/// its body in base64.
fn trailer_error(t: &HeaderMap) -> Option<LambdaError> {
    use base64::Engine;
    let kind = t.get(ERROR_TYPE)?.to_str().ok()?;
    let body = t
        .get(ERROR_BODY)
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .ok()
        })
        .unwrap_or_default();
    Some(LambdaError::from_runtime(&body, Some(kind)))
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, tx) = match waiting(&api, path) {
        Ok(w) => w,
        Err(refused) => return refused,
    };
    let e = runtime_error(&headers, body).await;
    api.close(&id);
    let _ = tx.send(Piece::Done(Err(e))).await;
    accepted()
}

async fn init_error(
    State(api): State<Arc<RuntimeApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let e = runtime_error(&headers, body).await;
    api.fail(e);
    accepted()
}

/// An error body a runtime posted, in Lambda's shape.
async fn runtime_error(headers: &HeaderMap, body: Body) -> LambdaError {
    let kind = headers.get(ERROR_TYPE).and_then(|v| v.to_str().ok());
    let body = axum::body::to_bytes(body, PAYLOAD_LIMIT)
        .await
        .unwrap_or_default();
    LambdaError::from_runtime(&body, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prelude_is_skipped_whatever_the_chunks() {
        let whole = b"{\"statusCode\":200}\0\0\0\0\0\0\0\0line 0\nline 1\n";
        for cut in [1, 3, 17, 20, 25, whole.len()] {
            let mut seen = Some(Vec::new());
            let mut out = Vec::new();
            for chunk in whole.chunks(cut) {
                let rest = skip_prelude(&mut seen, Bytes::copy_from_slice(chunk)).unwrap();
                out.extend_from_slice(&rest);
            }
            assert_eq!(out, b"line 0\nline 1\n", "chunks of {cut}");
        }
        let mut seen = Some(Vec::new());
        let no_end = Bytes::from(vec![b'x'; MAX_PRELUDE + 1]);
        let e = skip_prelude(&mut seen, no_end).unwrap_err();
        assert_eq!(e.error_type, "Runtime.InvalidPrelude");
    }

    #[tokio::test]
    async fn an_id_that_is_not_text_is_refused_in_lambdas_shape() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = RuntimeApi::new().router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        // %C9 alone is not UTF-8.
        for post in ["response", "error"] {
            let url = format!("http://{addr}/2018-06-01/runtime/invocation/%C9/{post}");
            let r = reqwest::Client::new().post(url).body("{}").send().await;
            let r = r.unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST, "{post}");
            let e: LambdaError = r.json().await.unwrap();
            assert_eq!(e.error_type, "InvalidRequestID", "{post}");
        }
    }

    #[tokio::test]
    async fn only_what_next_handed_out_takes_posts_and_an_ended_event_is_skipped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = RuntimeApi::new();
        let router = api.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let event = |id: &str| Event {
            id: id.to_string(),
            body: b"{}".to_vec(),
            deadline_ms: 0,
            function_arn: String::new(),
            extra: Vec::new(),
        };
        let submit = |e: Event| {
            let api = Arc::clone(&api);
            tokio::task::spawn_blocking(move || api.submit(e).map(|_rx| ()))
        };
        submit(event("a")).await.unwrap().unwrap();
        // Queued, not handed out: a post for it is refused.
        let url = format!("http://{addr}/2018-06-01/runtime/invocation/a/error");
        let r = reqwest::Client::new().post(url).body("{}").send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
        let e: LambdaError = r.json().await.unwrap();
        assert_eq!(e.error_type, "InvalidRequestID");
        // It ends while queued (its runtime failed, or it timed out); the
        // next `next` hands out the one after it.
        api.close("a");
        let b = submit(event("b"));
        let url = format!("http://{addr}/2018-06-01/runtime/invocation/next");
        let r = reqwest::get(url).await.unwrap();
        let id = r.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap();
        assert_eq!(id, "b");
        b.await.unwrap().unwrap();
    }
}
