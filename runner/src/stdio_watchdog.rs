//! The stdio watchdog (`faasin __stdio -- PROGRAM ARGS...`): a warm
//! instance for a program that knows nothing of FAASIN, as OpenFaaS's
//! watchdog is in its streaming mode. For every invocation it starts the
//! program afresh, with the invocation's parameters in env `FAASIN_PARAMS`
//! (unset when there are none), streams the invocation's faasin into its
//! stdin and its stdout into the faasout, and returns
//! `{"exit_code": N, "signal": S}`.

use crate::pumps::{self, Meter};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// The hidden subcommand a binary built on this crate dispatches to [`main`].
pub const SUBCOMMAND: &str = "__stdio";

/// Serves invocations until the runner says there are no more.
pub fn main(argv: &[String]) -> ExitCode {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("faasin {SUBCOMMAND}: no program to run");
        return ExitCode::from(2);
    };
    for inv in faasin::invocations() {
        let result = inv.and_then(|inv| {
            let (input, output, done) = inv.into_parts();
            let value = run_once(program, args, done.params(), input, output)?;
            done.finish(value.as_bytes())
        });
        if let Err(e) = result {
            eprintln!("faasin {SUBCOMMAND}: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// One invocation: the program on the invocation's streams and with its
/// parameters; its status as the return value.
fn run_once(
    program: &str,
    args: &[String],
    params: Option<&str>,
    input: faasin::Reader,
    output: faasin::Writer,
) -> io::Result<String> {
    let mut cmd = Command::new(program);
    match params {
        Some(p) => cmd.env(faasin::ENV_PARAMS, p),
        // Not those of the watchdog's own env, if it has any.
        None => cmd.env_remove(faasin::ENV_PARAMS),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program:?}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    // A program that stops reading ends the copy with EPIPE, and its input
    // end then closes, as in a shell pipeline.
    let feeder = std::thread::spawn(move || {
        let _ = pumps::from_stream(input, &mut stdin, &Meter::new(Instant::now()));
    });
    let copied = pumps::into_stream(&mut stdout, output, &Meter::new(Instant::now()));
    let status = child.wait()?;
    let _ = feeder.join();
    copied?;
    Ok(serde_json::json!({"exit_code": status.code(), "signal": status.signal()}).to_string())
}
