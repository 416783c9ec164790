//! The Lambda Runtime API as a hostile runtime client uses it
//! (`platform/src/runtime_api.rs`, served by `faasin __lambda`): requests
//! for the next invocation, results buffered or streamed (a prelude or not,
//! in any chunks, error trailers, a body that breaks off), errors, init
//! errors and runtime restarts, for the invocation at hand, one over, or
//! any id, driven through the router in-process while the host submits
//! invocations one at a time as `faasin __lambda` does.
//!
//! Every request gets Lambda's answer (the invocation, `202` and
//! `{"status":"OK"}`, or a refusal with an `errorType`); the invocation at
//! hand ends exactly as the runtime said (its result, its error, the error
//! of a runtime that failed), and each one ends, never a hang.

#![no_main]

use arbitrary::Arbitrary;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use faasin_platform::lambda_outcome::LambdaError;
use faasin_platform::runtime_api::{Event, Piece, RuntimeApi};
use faasin_runner::handoff_server::random_token;
use http_body::Frame;
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Far longer than any answer takes; a hang fails the input.
const PATIENCE: Duration = Duration::from_secs(8);
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";

#[derive(Arbitrary, Debug)]
enum Target {
    AtHand,
    /// The invocation before it, if any.
    Over,
    /// Any id, as bytes (percent-encoded in the path: not always UTF-8).
    Any(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Step {
    Submit {
        body: Vec<u8>,
        extra: String,
    },
    Next,
    Response {
        to: Target,
        streaming: bool,
        prelude: bool,
        chunks: Vec<Vec<u8>>,
        /// Error trailers: the type, and the body before base64.
        trailer: Option<(String, Vec<u8>)>,
        broken: bool,
    },
    Error {
        to: Target,
        kind: Option<String>,
        body: Vec<u8>,
    },
    InitError {
        kind: Option<String>,
        body: Vec<u8>,
    },
    /// The runtime process ended and starts again.
    Restart,
}

/// A request body of the given frames, then trailers, then maybe an error.
struct Frames {
    frames: VecDeque<Frame<Bytes>>,
    broken: bool,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(f) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(f)));
        }
        if std::mem::take(&mut self.broken) {
            return Poll::Ready(Some(Err(std::io::Error::other("the runtime broke off"))));
        }
        Poll::Ready(None)
    }
}

/// How an invocation ended, as its host sees it: the result's bytes, then
/// `Done` (`None`: every sender dropped, the runtime failed).
type Ended = (Vec<u8>, Option<Result<(), LambdaError>>);

async fn collect(mut rx: mpsc::Receiver<Piece>) -> Ended {
    let mut out = Vec::new();
    loop {
        match rx.recv().await {
            None => return (out, None),
            Some(Piece::Chunk(b)) => out.extend_from_slice(&b),
            Some(Piece::Done(r)) => return (out, Some(r)),
        }
    }
}

/// The invocation at hand.
struct AtHand {
    id: String,
    body: Vec<u8>,
    delivered: bool,
    /// Its pieces as its host collects them, until checked.
    ended: Option<JoinHandle<Ended>>,
    /// How it must end, once the runtime said so.
    expect: Option<Ended>,
}

fn header(v: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(v).ok()
}

fn lambda_error(kind: Option<&str>, body: &[u8]) -> LambdaError {
    LambdaError::from_runtime(body, kind.filter(|k| header(k).is_some()))
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = tokio::time::timeout(PATIENCE, router.clone().oneshot(req))
        .await
        .expect("an answer in time")
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body)
}

fn post(path: &str, headers: &[(&'static str, Option<HeaderValue>)], body: Body) -> Request<Body> {
    let mut req = Request::builder().method(Method::POST).uri(path);
    for (name, v) in headers {
        if let Some(v) = v {
            req = req.header(HeaderName::from_static(name), v.clone());
        }
    }
    req.body(body).unwrap()
}

fn percent_encode(s: &[u8]) -> String {
    s.iter().map(|b| format!("%{b:02X}")).collect()
}

fn assert_accepted((status, _, body): &(StatusCode, HeaderMap, Bytes)) {
    assert_eq!(*status, StatusCode::ACCEPTED, "{body:?}");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v, serde_json::json!({"status": "OK"}));
}

/// A refusal in Lambda's shape, of this status and type.
fn assert_refused(
    (status, _, body): &(StatusCode, HeaderMap, Bytes),
    want: StatusCode,
    kind: &str,
) {
    assert_eq!(*status, want, "{body:?}");
    let e: LambdaError = serde_json::from_slice(body).expect("a refusal in Lambda's shape");
    assert_eq!(e.error_type, kind);
    assert!(!e.error_message.is_empty());
}

/// What a streamed body comes to after its prelude (all of it if there is
/// none), in Lambda's `http-integration-response` framing.
fn after_prelude(all: &[u8], prelude: bool) -> Vec<u8> {
    if !prelude {
        return all.to_vec();
    }
    match all.windows(8).position(|w| w == [0; 8]) {
        Some(at) => all[at + 8..].to_vec(),
        None => Vec::new(),
    }
}

struct Host {
    api: Arc<RuntimeApi>,
    router: Router,
    at_hand: Option<AtHand>,
    over: Option<String>,
    /// The first init error.
    failed: Option<LambdaError>,
    /// Since the runtime last started: it asked for an invocation, took one.
    progress: (bool, bool),
}

impl Host {
    /// The id a post goes to, and whether it is the open invocation's.
    fn id(&self, to: &Target) -> (Vec<u8>, bool) {
        let open = self.at_hand.as_ref().filter(|h| h.expect.is_none());
        match to {
            // A runtime learns an id from `next` only.
            Target::AtHand => match self.at_hand.as_ref().filter(|h| h.delivered) {
                Some(h) => (
                    h.id.clone().into_bytes(),
                    open.is_some() && self.failed.is_none(),
                ),
                None => (b"none".to_vec(), false),
            },
            Target::Over => (
                self.over
                    .clone()
                    .unwrap_or_else(|| "over".into())
                    .into_bytes(),
                false,
            ),
            Target::Any(b) => (b.clone(), false),
        }
    }

    /// Waits for the invocation at hand to end, and checks how.
    async fn check_end(&mut self) {
        let Some(h) = &mut self.at_hand else { return };
        let Some(expect) = &h.expect else { return };
        // Checked once, when it ends.
        let Some(ended) = h.ended.take() else { return };
        let mut got = tokio::time::timeout(PATIENCE, ended)
            .await
            .expect("the invocation ends")
            .unwrap();
        // A broken-off body's message is the transport's own (unless the
        // client posted an error of that type itself: then it is as sent).
        if &got != expect {
            if let Some(Err(e)) = &mut got.1 {
                if e.error_type == "Runtime.TruncatedResponse" {
                    assert!(!e.error_message.is_empty());
                    e.error_message.clear();
                }
            }
        }
        assert_eq!(&got, expect, "how the invocation ended");
    }

    async fn step(&mut self, step: Step) {
        match step {
            Step::Submit { body, extra } => {
                if self.at_hand.as_ref().is_some_and(|h| h.expect.is_none()) {
                    // One at a time, as `faasin __lambda` submits them.
                    return;
                }
                if let Some(h) = self.at_hand.take() {
                    self.api.close(&h.id);
                    self.api.finished();
                    self.over = Some(h.id);
                }
                let id = random_token();
                let event = Event {
                    id: id.clone(),
                    body: body.clone(),
                    deadline_ms: 1,
                    function_arn: "arn:aws:lambda:fuzz".into(),
                    extra: vec![("lambda-runtime-client-context", extra)],
                };
                let api = Arc::clone(&self.api);
                // Blocking (a queue of one): off the async runtime.
                let submitted = tokio::task::spawn_blocking(move || api.submit(event))
                    .await
                    .unwrap();
                match (&self.failed, submitted) {
                    (Some(f), Err(e)) => assert_eq!(&e, f, "a failed runtime's error"),
                    (None, Ok(rx)) => {
                        self.at_hand = Some(AtHand {
                            id,
                            body,
                            delivered: false,
                            ended: Some(tokio::spawn(collect(rx))),
                            expect: None,
                        })
                    }
                    (f, r) => panic!("submitted after {f:?}: {:?}", r.err()),
                }
            }
            Step::Next => {
                let req = Request::get("/2018-06-01/runtime/invocation/next")
                    .body(Body::empty())
                    .unwrap();
                self.progress.0 = true;
                // The invocation at hand, while it is open: one that ended
                // undelivered (its runtime failed) is never handed out.
                let queued = match self.at_hand.as_mut() {
                    Some(h) if !h.delivered && h.expect.is_none() => {
                        h.delivered = true;
                        Some((h.id.clone(), h.body.clone()))
                    }
                    _ => None,
                };
                let Some((id, event)) = queued else {
                    // Nothing queued: it waits.
                    let waiting = self.router.clone().oneshot(req);
                    tokio::select! {
                        biased;
                        _ = waiting => panic!("`next` answered with nothing queued"),
                        () = tokio::task::yield_now() => {}
                    }
                    return;
                };
                let (status, headers, body) = send(&self.router, req).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(headers["lambda-runtime-aws-request-id"], id.as_str());
                assert_eq!(headers["lambda-runtime-deadline-ms"], "1");
                assert!(headers.contains_key("lambda-runtime-trace-id"));
                assert_eq!(body, event);
                self.progress.1 = true;
            }
            Step::Response {
                to,
                streaming,
                prelude,
                chunks,
                trailer,
                broken,
            } => {
                let (id, open) = self.id(&to);
                let all: Vec<u8> = chunks.concat();
                let mut frames: VecDeque<_> =
                    chunks.into_iter().map(|c| Frame::data(c.into())).collect();
                let trailer = trailer.and_then(|(kind, body)| Some((header(&kind)?, body)));
                if let Some((kind, body)) = &trailer {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
                    let mut t = HeaderMap::new();
                    t.insert(ERROR_TYPE, kind.clone());
                    t.insert(ERROR_BODY, header(&b64).unwrap());
                    frames.push_back(Frame::trailers(t));
                }
                let mode = streaming.then(|| HeaderValue::from_static("streaming"));
                let kind = prelude.then(|| HeaderValue::from_static(HTTP_INTEGRATION));
                let req = post(
                    &format!(
                        "/2018-06-01/runtime/invocation/{}/response",
                        percent_encode(&id)
                    ),
                    &[
                        ("lambda-runtime-function-response-mode", mode),
                        ("content-type", kind),
                    ],
                    Body::new(Frames { frames, broken }),
                );
                let answer = send(&self.router, req).await;
                if !open {
                    return assert_refused(&answer, StatusCode::BAD_REQUEST, "InvalidRequestID");
                }
                let truncated = || LambdaError {
                    error_type: "Runtime.TruncatedResponse".into(),
                    error_message: String::new(),
                    stack_trace: None,
                };
                let expect = if streaming {
                    assert_accepted(&answer);
                    let end = match (&trailer, broken) {
                        (Some((kind, body)), _) => {
                            Err(LambdaError::from_runtime(body, kind.to_str().ok()))
                        }
                        (None, true) => Err(truncated()),
                        (None, false) => Ok(()),
                    };
                    (after_prelude(&all, prelude), Some(end))
                } else if broken {
                    let kind = "Runtime.TruncatedResponse";
                    assert_refused(&answer, StatusCode::BAD_REQUEST, kind);
                    (Vec::new(), Some(Err(truncated())))
                } else {
                    assert_accepted(&answer);
                    (all, Some(Ok(())))
                };
                self.at_hand.as_mut().unwrap().expect = Some(expect);
                self.check_end().await;
            }
            Step::Error { to, kind, body } => {
                let (id, open) = self.id(&to);
                let kind_header = kind.as_deref().and_then(header);
                let req = post(
                    &format!(
                        "/2018-06-01/runtime/invocation/{}/error",
                        percent_encode(&id)
                    ),
                    &[(ERROR_TYPE, kind_header)],
                    Body::from(body.clone()),
                );
                let answer = send(&self.router, req).await;
                if !open {
                    return assert_refused(&answer, StatusCode::BAD_REQUEST, "InvalidRequestID");
                }
                assert_accepted(&answer);
                let e = lambda_error(kind.as_deref(), &body);
                self.at_hand.as_mut().unwrap().expect = Some((Vec::new(), Some(Err(e))));
                self.check_end().await;
            }
            Step::InitError { kind, body } => {
                let req = post(
                    "/2018-06-01/runtime/init/error",
                    &[(ERROR_TYPE, kind.as_deref().and_then(header))],
                    Body::from(body.clone()),
                );
                assert_accepted(&send(&self.router, req).await);
                let e = lambda_error(kind.as_deref(), &body);
                let first = self.failed.get_or_insert(e).clone();
                assert_eq!(self.api.failure(), Some(first));
                if let Some(h) = self.at_hand.as_mut().filter(|h| h.expect.is_none()) {
                    // Its host sees every sender gone, and asks why.
                    h.expect = Some((Vec::new(), None));
                }
                self.check_end().await;
            }
            Step::Restart => {
                let e = LambdaError::new("Runtime.ExitError", "the runtime exited");
                self.api.lost(&e);
                self.api.starting();
                self.progress = (false, false);
                let open = self.failed.is_none();
                if let Some(h) = self.at_hand.as_mut() {
                    if h.delivered && h.expect.is_none() && open {
                        h.expect = Some((Vec::new(), Some(Err(e))));
                    }
                }
                self.check_end().await;
            }
        }
        assert_eq!(self.api.progress(), self.progress, "asked, took work");
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let api = RuntimeApi::new();
        let mut host = Host {
            router: api.router(),
            api,
            at_hand: None,
            over: None,
            failed: None,
            progress: (false, false),
        };
        for step in steps.into_iter().take(16) {
            host.step(step).await;
        }
        // However the runtime left it, the invocation at hand ends: its
        // runtime is stopped as failed.
        host.api
            .fail(LambdaError::new("Runtime.ExitError", "stopped"));
        if let Some(ended) = host.at_hand.and_then(|h| h.ended) {
            let got = tokio::time::timeout(PATIENCE, ended)
                .await
                .expect("the invocation ends")
                .unwrap();
            // Nothing was said about it: its host sees the runtime gone.
            assert_eq!(got, (Vec::new(), None), "an invocation nobody ended");
        }
    });
});
