//! The runner as a library: several warm chains on one handoff server serve
//! invocations at the same time, each with its own instances and streams,
//! as a platform service runs concurrent invocations.

mod common;
use common::*;
use faasin_runner::chain::{Chain, Command, Function};
use faasin_runner::guard::Guard;
use faasin_runner::handoff_server::HandoffServer;
use faasin_runner::invocation::{self, Output};
use faasin_runner::report::InvocationReport;
use faasin_runner::warm_chain::{Setup, WarmChain};
use faasin_runner::Transport;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `Write` whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cat(name: &str) -> Function {
    Function {
        name: name.into(),
        command: Command::Argv(vec![faasin_bin().display().to_string(), "cat".into()]),
        image: None,
        env: Default::default(),
        stdio: false,
        handoff: false,
        capacity: 1 << 16,
        memory: None,
    }
}

/// A warm chain of `chain`'s functions over FAASIN, every one started.
fn start<'a>(
    chain: &'a Chain,
    server: &HandoffServer,
    guard: &mut Guard,
    run_id: &str,
) -> WarmChain<'a> {
    let setup = Setup {
        transport: Transport::Faasin,
        server,
        guard,
        docker: "docker",
        run_id,
        timeout: None,
    };
    let w = WarmChain::start(chain, setup).unwrap();
    assert!(w.start_error.is_none());
    w
}

/// One invocation on `payload`, once every function asked: its report and
/// its output.
fn invoke(w: &mut WarmChain<'_>, payload: &[u8]) -> (InvocationReport, Vec<u8>) {
    w.wait_all_asked().unwrap();
    let out = Collected::default();
    let mut dst: Output = Box::new(out.clone());
    let input = Box::new(std::io::Cursor::new(payload.to_vec()));
    let inv = invocation::streamed(w, input, &mut dst).unwrap();
    let bytes = std::mem::take(&mut *out.0.lock().unwrap());
    (inv, bytes)
}

/// Ends the chain once every function asked; each must exit 0.
fn end_cleanly(w: &mut WarmChain<'_>) {
    w.wait_all_asked().unwrap();
    w.end_all(true, std::time::Duration::from_secs(5), "docker");
    for inst in &w.instances {
        assert!(!inst.alive(), "{} still runs", inst.name);
        assert_eq!(
            inst.status().and_then(|s| s.code()),
            Some(0),
            "{}",
            inst.name
        );
    }
}

#[test]
fn warm_chains_on_one_server_run_invocations_side_by_side() {
    let chain = Chain {
        functions: vec![cat("a"), cat("b")],
    };
    let server = HandoffServer::start().unwrap();
    let mut guard = Guard::none("enginetest");
    let mut chains: Vec<WarmChain<'_>> = (0..3)
        .map(|_| start(&chain, &server, &mut guard, "enginetest"))
        .collect();
    std::thread::scope(|s| {
        for (k, w) in chains.iter_mut().enumerate() {
            s.spawn(move || {
                for j in 0..4 {
                    // Bigger than the rings, different for every invocation.
                    let payload = bytes(300_000 + 1000 * k + j, (10 * k + j + 1) as u64);
                    let (inv, out) = invoke(w, &payload);
                    assert!(out == payload, "chain {k} invocation {j}");
                    for v in &inv.return_values {
                        assert_eq!(v["bytes"], payload.len() as u64, "chain {k}: {v}");
                    }
                }
            });
        }
    });
    chains.iter_mut().for_each(end_cleanly);
}

/// The parameters a warm chain is given reach every function with each
/// invocation's streams: a FAASIN function as `Invocation::params`, a stdio
/// program under the watchdog as env `FAASIN_PARAMS` (unset when there are
/// none, whatever the function's own env says).
#[test]
fn every_function_gets_the_invocation_parameters() {
    let peer = Function {
        command: Command::Argv(vec![
            peer_bin().display().to_string(),
            "warm".into(),
            "params".into(),
        ]),
        ..cat("peer")
    };
    let program = "cat >/dev/null; printf %s \"${FAASIN_PARAMS-unset}\"";
    let watchdog = Function {
        command: Command::Argv(vec![
            faasin_bin().display().to_string(),
            faasin_runner::stdio_watchdog::SUBCOMMAND.into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            program.into(),
        ]),
        env: [(faasin::ENV_PARAMS.to_string(), "stale".to_string())].into(),
        ..cat("sh")
    };
    let chain = Chain {
        functions: vec![peer, watchdog],
    };
    let server = HandoffServer::start().unwrap();
    let mut guard = Guard::none("enginetest-params");
    let mut w = start(&chain, &server, &mut guard, "enginetest-params");
    let invoke = |w: &mut WarmChain<'_>| {
        let (inv, out) = invoke(w, b"payload");
        (
            inv.return_values[0].clone(),
            String::from_utf8(out).unwrap(),
        )
    };
    let params = r#"{"query": {"q": "ä"}}"#;
    w.set_params(params.into()).unwrap();
    for _ in 0..2 {
        let (value, out) = invoke(&mut w);
        assert_eq!(value, serde_json::json!({"query": {"q": "ä"}}));
        assert_eq!(out, params);
    }
    // Refused, and the last ones stay.
    let e = w
        .set_params(vec![b' '; faasin::handoff::MAX_PARAMS + 1])
        .unwrap_err();
    assert!(e.contains("parameters over 65536 bytes"), "{e}");
    assert_eq!(invoke(&mut w).1, params);
    w.set_params(Vec::new()).unwrap();
    let (value, out) = invoke(&mut w);
    assert_eq!(value, serde_json::Value::Null);
    assert_eq!(out, "unset");
    end_cleanly(&mut w);
}

/// Over FAASIN, the edges between the functions of a warm chain the runner
/// keeps are kept too: granted once to keep, then restarted with no fds,
/// each invocation's bytes (and EOF) its own. A function that leaves part
/// of its input unread cannot restart it, and the edges at it are fresh.
#[test]
fn a_warm_chain_keeps_its_edges_where_both_functions_can_restart_them() {
    let peer = |name: &str, mode: &[&str]| Function {
        command: Command::Argv(
            [peer_bin().display().to_string(), "warm".into()]
                .into_iter()
                .chain(mode.iter().map(|m| m.to_string()))
                .collect(),
        ),
        ..cat(name)
    };
    // It leaves unread bytes behind, which its writer does not mind.
    let (head, unchecked) = (peer("head", &["head", "10"]), peer("b", &["unchecked"]));
    let server = HandoffServer::start().unwrap();
    // Different lengths, some past a ring, so that a byte of one invocation
    // read as another's shows. The second chain's are written and read in
    // one piece each (at most a copy step), so its `unchecked` writer is
    // done before `head` closes its input.
    let (long, short) = (
        [1000, 70_000, 5, 0, 150_000, 3],
        [1000, 4000, 5, 0, 3000, 3],
    );
    // Fresh, then granted to keep, then restarted. `head` reads its short
    // inputs (5 and 0 bytes) to the end: its edges are kept again after them.
    for (functions, kept, took, sizes) in [
        (
            vec![cat("a"), cat("b"), cat("c"), cat("d")],
            [0, 0, 3, 3, 3, 3],
            None,
            long,
        ),
        (
            vec![unchecked, head, cat("c"), cat("d")],
            [0, 0, 1, 1, 3, 1],
            Some(10),
            short,
        ),
    ] {
        let chain = Chain { functions };
        let mut guard = Guard::none("enginetest-kept");
        let mut w = start(&chain, &server, &mut guard, "enginetest-kept");
        let mut kept_edges = Vec::new();
        for (j, &size) in sizes.iter().enumerate() {
            let payload = bytes(size, j as u64 + 1);
            let (inv, out) = invoke(&mut w, &payload);
            let want = &payload[..took.unwrap_or(size).min(size)];
            assert!(out == want, "invocation {j}");
            kept_edges.push(inv.kept_edges);
        }
        assert_eq!(kept_edges, kept);
        end_cleanly(&mut w);
    }
}
