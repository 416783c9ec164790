//! The host of a Lambda function's runtime (`faasin __lambda [--event body]
//! -- COMMAND...`), what AWS's own sandbox runs beside a runtime: towards
//! the service it is a warm FAASIN instance; towards the runtime interface
//! client it starts (`COMMAND`) it serves the Runtime API on 127.0.0.1, in
//! the same network namespace (a container's own loopback, so a container
//! without a network needs no proxy).
//!
//! Per invocation the event is the invocation's parameters, and the
//! invocation's faasin and faasout are offered on the host's own handoff
//! socket (`FAASIN_SOCKET` in the runtime's env) under the request id, for
//! the handler to take with `faasin::streams_of(request_id)`; the handler's
//! result is the return value. With `--event body` the event is the whole
//! faasin (at most [`PAYLOAD_LIMIT`]) and the result goes to the faasout,
//! as a function invoked through Lambda's API gets its payload and returns
//! its response.
//!
//! A runtime that ends after taking work fails the invocation it had, and
//! starts again, as Lambda resets a sandbox. One that fails its start (or
//! never asks for an invocation, or keeps ending idle) fails the invocation
//! at hand, or the next one, with Lambda's error; the host then ends, so
//! that the service starts a fresh instance.

use crate::lambda_outcome::{result_value, HostOutcome, LambdaError, PAYLOAD_LIMIT};
use crate::runtime_api::{Event, Piece, RuntimeApi};
use faasin::handoff;
use faasin_runner::handoff_server::{random_token, HandoffServer};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// The hidden subcommand the `faasin` binary dispatches to [`main`].
pub const SUBCOMMAND: &str = "__lambda";

/// Lambda's limit on a runtime's start: it must ask for its first
/// invocation within this long.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a host whose runtime failed waits to be stopped.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The host's argv for a runtime command (`exe` is the `faasin` binary).
pub fn command(exe: &str, body_event: bool, runtime: Vec<String>) -> Vec<String> {
    let mut argv = vec![exe.to_string(), SUBCOMMAND.to_string()];
    if body_event {
        argv.extend(["--event".to_string(), "body".to_string()]);
    }
    argv.push("--".to_string());
    argv.extend(runtime);
    argv
}

/// Serves invocations until the service says there are no more, or the
/// runtime failed.
pub fn main(args: &[String]) -> ExitCode {
    let fail = |m: String| {
        eprintln!("faasin {SUBCOMMAND}: {m}");
        ExitCode::from(2)
    };
    let mut runtime = args;
    let mut body_event = false;
    if let [flag, mode, rest @ ..] = runtime {
        if flag == "--event" {
            body_event = match mode.as_str() {
                "body" => true,
                "params" => false,
                m => return fail(format!("--event {m:?}: `body` or `params`")),
            };
            runtime = rest;
        }
    }
    if let [dashdash, rest @ ..] = runtime {
        if dashdash == "--" {
            runtime = rest;
        }
    }
    if runtime.is_empty() {
        return fail("usage: faasin __lambda [--event body|params] -- COMMAND...".into());
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match rt.block_on(run(body_event, runtime)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// What every invocation of this host shares.
struct Host {
    api: Arc<RuntimeApi>,
    /// Where the handler takes its invocation's streams.
    streams: HandoffServer,
    body_event: bool,
    timeout: Duration,
    function_arn: String,
}

async fn run(body_event: bool, runtime: &[String]) -> Result<(), String> {
    let api = RuntimeApi::new();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let streams =
        HandoffServer::start().map_err(|e| format!("cannot serve the handoff socket: {e}"))?;
    let router = api.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let mut child = spawn_runtime(runtime, &addr.to_string(), streams.socket())?;
    let watched = Arc::clone(&api);
    let (runtime, addr, socket) = (
        runtime.to_vec(),
        addr.to_string(),
        streams.socket().to_owned(),
    );
    tokio::spawn(async move {
        // Runs of the runtime in a row that ended without taking work.
        let mut idle_ends = 0;
        loop {
            let how = supervise(&watched, &mut child).await;
            let (asked, took_work) = watched.progress();
            idle_ends = if took_work { 0 } else { idle_ends + 1 };
            let e = LambdaError::new("Runtime.ExitError", format!("the runtime exited ({how})"));
            eprintln!("faasin {SUBCOMMAND}: the runtime ended ({how})");
            // A runtime that failed its start, or keeps ending with nothing
            // to do, fails the invocation at hand or the next one, as
            // Lambda reports init errors; the host then exits and the
            // service starts a fresh instance. Otherwise the runtime starts
            // again, as Lambda resets a sandbox, and the invocation it had
            // taken fails.
            if !asked || idle_ends >= 2 {
                watched.fail(e);
                return;
            }
            watched.lost(&e);
            watched.starting();
            child = match spawn_runtime(&runtime, &addr, &socket) {
                Ok(c) => c,
                Err(why) => {
                    watched.fail(LambdaError::new("Runtime.ExitError", why));
                    return;
                }
            };
        }
    });
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "function".into());
    let host = Arc::new(Host {
        api,
        streams,
        body_event,
        timeout: Duration::from_secs_f64(
            (std::env::var("AWS_LAMBDA_FUNCTION_TIMEOUT").ok())
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t > 0.0)
                .unwrap_or(60.0),
        ),
        function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
    });
    tokio::task::spawn_blocking(move || serve(&host))
        .await
        .map_err(|e| format!("the invocation thread failed: {e}"))?
}

/// Waits for the runtime to end; one that does not ask for an invocation
/// within [`INIT_TIMEOUT`] of its start fails and is killed. Returns how it
/// ended.
async fn supervise(api: &RuntimeApi, child: &mut tokio::process::Child) -> String {
    let status = tokio::select! {
        s = child.wait() => s,
        _ = tokio::time::sleep(INIT_TIMEOUT) => {
            if !api.progress().0 {
                api.fail(LambdaError::new(
                    "Runtime.InitTimeout",
                    format!("the runtime did not ask for an invocation (GET /2018-06-01/runtime/invocation/next) within {INIT_TIMEOUT:?} of its start"),
                ));
                let _ = child.start_kill();
            }
            child.wait().await
        }
    };
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("cannot be waited for: {e}"),
    }
}

/// Starts the runtime interface client with Lambda's env, in its task root.
fn spawn_runtime(
    runtime: &[String],
    api_addr: &str,
    socket: &std::path::Path,
) -> Result<tokio::process::Child, String> {
    let root = std::env::var_os("LAMBDA_TASK_ROOT")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| "/".into());
    // Absolute: it is the runtime's working directory and stays in its env.
    let root = root.canonicalize().unwrap_or(root);
    let mut cmd = tokio::process::Command::new(&runtime[0]);
    cmd.args(&runtime[1..])
        .current_dir(&root)
        .env("LAMBDA_TASK_ROOT", &root)
        .env("AWS_LAMBDA_RUNTIME_API", api_addr)
        .env(handoff::ENV_SOCKET, socket)
        // Those are the host's, for its own invocations from the service.
        .env_remove(handoff::ENV_TOKEN)
        .env_remove(faasin::ENV_WARM)
        .env_remove(faasin::ENV_PARAMS)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only sets a flag of the child.
    // The runtime gets SIGKILL when the thread that forked it ends: the
    // main thread or the async runtime's worker, which live as long as the
    // host.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start the runtime {:?}: {e}", runtime[0]))
}

/// The service's invocations, one after another, on the handoff protocol
/// of warm functions (`faasin::handoff`).
fn serve(host: &Host) -> Result<(), String> {
    let socket = std::env::var_os(handoff::ENV_SOCKET).ok_or_else(|| {
        format!(
            "{} is not set: the service starts this",
            handoff::ENV_SOCKET
        )
    })?;
    let token = std::env::var(handoff::ENV_TOKEN).unwrap_or_default();
    let stays = std::env::var_os(faasin::ENV_WARM).is_some_and(|v| v == faasin::WARM_STAYS);
    let lost = |e: io::Error| format!("the service's handoff socket failed: {e}");
    let mut next = handoff::request_invocation(socket.as_ref(), &token).map_err(lost)?;
    while let Some((streams, conn)) = next {
        let outcome = invoke(host, streams);
        let value = serde_json::to_vec(&outcome).map_err(|e| e.to_string())?;
        // The connection, if the next invocation comes on it.
        let kept = match outcome.fatal || !stays {
            true => {
                handoff::send_result(conn, &value).map_err(lost)?;
                None
            }
            false => {
                handoff::send_result_and_stay(conn.as_fd(), &value).map_err(lost)?;
                Some(conn)
            }
        };
        if host.api.finished() {
            if kept.is_none() {
                // The service stops an instance that ended its invocation
                // this way; exiting first could pass for a crash during it.
                std::thread::sleep(STOP_WAIT);
            }
            return Err("the runtime cannot go on".into());
        }
        next = match kept {
            Some(conn) => handoff::next_invocation(conn),
            None => handoff::request_invocation(socket.as_ref(), &token),
        }
        .map_err(lost)?;
    }
    Ok(())
}

/// One invocation, start to end.
fn invoke(host: &Host, streams: handoff::Streams) -> HostOutcome {
    let deadline = SystemTime::now() + host.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let params = streams.params.clone().unwrap_or_else(|| "{}".into());
    let (id, body, mut output) = if host.body_event {
        let event = match read_event(streams.input) {
            Ok(e) => e,
            Err(o) => return o,
        };
        (random_token(), event, streams.output)
    } else {
        let id = host.streams.offer(streams.input, streams.output, |_| {});
        (id, params.clone().into_bytes(), None)
    };
    let event = Event {
        id: id.clone(),
        body,
        deadline_ms,
        function_arn: host.function_arn.clone(),
        extra: extra_headers(&params),
    };
    let mut outcome = match host.api.submit(event) {
        Ok(pieces) => collect(host, pieces, &mut output),
        Err(e) => HostOutcome::failed(502, e, true),
    };
    // A runtime that failed as a whole serves no more invocations.
    outcome.fatal |= host.api.failure().is_some();
    // Ends the handler did not take close now: its neighbours see EOF.
    host.streams.withdraw(&id);
    host.api.close(&id);
    outcome
}

/// The event of `--event body`: the whole faasin, within Lambda's limit.
fn read_event(input: Option<OwnedFd>) -> Result<Vec<u8>, HostOutcome> {
    let Some(fd) = input else {
        return Ok(Vec::new());
    };
    let broken = |e: io::Error| {
        HostOutcome::failed(
            502,
            LambdaError::new(
                "Runtime.InvalidEvent",
                format!("reading the event failed: {e}"),
            ),
            false,
        )
    };
    let reader = faasin::Reader::from_fd(fd).map_err(broken)?;
    let mut event = Vec::new();
    reader
        .take(PAYLOAD_LIMIT as u64 + 1)
        .read_to_end(&mut event)
        .map_err(broken)?;
    if event.len() > PAYLOAD_LIMIT {
        let e = LambdaError::new(
            "RequestTooLarge",
            format!("the event is over Lambda's limit of {PAYLOAD_LIMIT} bytes"),
        );
        return Err(HostOutcome::failed(413, e, false));
    }
    Ok(event)
}

/// What the runtime says about an invocation, to its end: with `--event
/// body` the result goes to faasout as it comes, else it is collected as
/// the return value (within Lambda's limit).
fn collect(
    host: &Host,
    mut pieces: mpsc::Receiver<Piece>,
    output: &mut Option<OwnedFd>,
) -> HostOutcome {
    let mut writer = None;
    if host.body_event {
        if let Some(fd) = output.take() {
            match faasin::Writer::from_fd(fd) {
                Ok(w) => writer = Some(w),
                Err(e) => {
                    let e = LambdaError::new("Runtime.InvalidStream", e.to_string());
                    return HostOutcome::failed(502, e, false);
                }
            }
        }
    }
    let mut result = Vec::new();
    let mut broken: Option<io::Error> = None;
    let end = loop {
        match pieces.blocking_recv() {
            // Every sender is gone: the runtime failed, or its post broke off.
            None => {
                break Err(host.api.failure().unwrap_or_else(|| {
                    LambdaError::new("Runtime.Unavailable", "the runtime's post broke off")
                }))
            }
            Some(Piece::Done(r)) => break r,
            Some(Piece::Chunk(b)) => match &mut writer {
                Some(w) if broken.is_none() => {
                    if let Err(e) = w.write_all(&b) {
                        broken = Some(e);
                    }
                }
                Some(_) => {}
                None => {
                    if result.len() + b.len() > PAYLOAD_LIMIT {
                        break Err(LambdaError::new(
                            "Function.ResponseSizeTooLarge",
                            format!("the result is over Lambda's limit of {PAYLOAD_LIMIT} bytes"),
                        ));
                    }
                    result.extend_from_slice(&b);
                }
            },
        }
    };
    // The result's end is the faasout's end.
    let closed = writer.map_or(Ok(()), |w| w.close());
    match (end, broken.map_or(closed, Err)) {
        (Err(e), _) => HostOutcome::failed(502, e, false),
        (Ok(()), Err(e)) => HostOutcome::failed(
            502,
            LambdaError::new(
                "Runtime.ResponseStreamBroken",
                format!("writing the result to faasout failed: {e}"),
            ),
            false,
        ),
        (Ok(()), Ok(())) if host.body_event => HostOutcome::ok(None),
        (Ok(()), Ok(())) => HostOutcome::ok(Some(result_value(&result))),
    }
}

/// `Lambda-Runtime-Client-Context` from the invocation's
/// `X-Amz-Client-Context` header (base64, as Lambda's Invoke API takes it),
/// when the service passes that header on. Nothing here has Cognito
/// identities, so that header is never set.
fn extra_headers(params: &str) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let Ok(p) = serde_json::from_str::<serde_json::Value>(params) else {
        return Vec::new();
    };
    let decoded = (p["headers"]["x-amz-client-context"].as_str())
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|c| String::from_utf8(c).ok());
    decoded
        .map(|c| vec![("lambda-runtime-client-context", c)])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_context_comes_from_the_passed_header() {
        // base64 of {"custom":{"k":"v"}}
        let params = r#"{"id":"i","query":{},"headers":{"x-amz-client-context":"eyJjdXN0b20iOnsiayI6InYifX0="}}"#;
        assert_eq!(
            extra_headers(params),
            vec![(
                "lambda-runtime-client-context",
                r#"{"custom":{"k":"v"}}"#.to_string()
            )]
        );
        assert!(extra_headers(r#"{"headers":{"x-amz-client-context":"%%"}}"#).is_empty());
        assert!(extra_headers("not json").is_empty());
    }

    #[test]
    fn the_hosts_argv_wraps_the_runtimes() {
        let rt = vec!["python3".to_string(), "-m".into(), "awslambdaric".into()];
        assert_eq!(
            command("/bin/faasin", true, rt.clone()),
            [
                "/bin/faasin",
                SUBCOMMAND,
                "--event",
                "body",
                "--",
                "python3",
                "-m",
                "awslambdaric"
            ]
        );
        assert_eq!(command("f", false, rt)[2], "--");
    }
}
