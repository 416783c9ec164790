//! `faasin`: run chains of functions that stream through FAASIN rings.
//!
//! Exit status: 0 when every function succeeded; 1 when one failed (the
//! message names it); 2 for a usage, chain-file or setup error (nothing ran);
//! 128+N when the runner was stopped by signal N (everything it started is
//! stopped and removed first).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use faasin_runner::chain::{check_capacity, from_inline};
use faasin_runner::{chain_file, guard, signals, Options, SetupError, Transport};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "faasin",
    version,
    about = "UNIX pipes for chained serverless functions: run chains whose functions stream through FAASIN rings"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a chain: `faasin run 'cmd A' 'cmd B' ...` or `faasin run -f chain.toml`.
    ///
    /// Each inline command runs with `/bin/sh -c`, its faasin at fd 3 and its
    /// faasout at fd 4 (FAASIN_FD=3, FAASOUT_FD=4). Prefix a command with
    /// `@stdio:` (or use --stdio N) for a program that reads stdin and writes
    /// stdout instead. A summary goes to stderr; the last function's output
    /// to stdout (or --output).
    Run(RunArgs),
    /// One ring between two commands, for shell scripts: like `run` with
    /// exactly two commands, silent unless something fails.
    Pipe(RunArgs),
    /// A pass-through function: copies its faasin to its faasout and returns
    /// `{"bytes": N}`.
    Cat,
    /// A FaaS platform on this host: keeps the functions and chains of the
    /// config file deployed and warm, and takes invocations over HTTP
    /// (see cli/README.md, "Running a platform").
    Serve {
        /// The platform's config file (TOML).
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// Internal: the watchdog that runs a stdio program per invocation.
    #[command(name = faasin_runner::stdio_watchdog::SUBCOMMAND, hide = true)]
    Stdio {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    /// Internal: the host of a Lambda function's runtime, which serves it
    /// the Runtime API.
    #[command(name = faasin_platform::lambda_host::SUBCOMMAND, hide = true)]
    Lambda {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    /// Internal: the watchdog that cleans up after a runner killed by SIGKILL.
    #[command(name = guard::SUBCOMMAND, hide = true)]
    Guard { docker: String, run_id: String },
}

#[derive(Args)]
struct RunArgs {
    /// Shell commands, one per function, in chain order.
    commands: Vec<String>,
    /// Chain file (TOML) naming each function; see cli/README.md.
    #[arg(short = 'f', long = "file", conflicts_with = "commands")]
    file: Option<PathBuf>,
    /// Feed this file to the first function (default: stdin).
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Write the last function's output here (default: stdout).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// `pipe` runs the same chain over plain OS pipes; `redis` and `file`
    /// store each function's whole output (Redis SET / a file) and start the
    /// next function only when it has ended, as today's platforms do.
    #[arg(long, default_value = "faasin", value_parser = transports())]
    transport: Transport,
    /// With --transport redis: the Redis to use (HOST:PORT); by default the
    /// runner starts its own redis-server on 127.0.0.1 and stops it after.
    #[arg(long, value_name = "ADDR")]
    redis: Option<String>,
    /// With --transport file: the directory for the stored outputs
    /// (default: /dev/shm, a tmpfs).
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,
    /// Ring capacity per edge in bytes (a power of two, >= 4096).
    #[arg(long, default_value_t = faasin::DEFAULT_CAPACITY)]
    capacity: usize,
    /// Inline function N (1-based) is a stdin/stdout program (repeatable).
    #[arg(long = "stdio", value_name = "N")]
    stdio: Vec<usize>,
    /// Seconds the other functions may go on after one fails, before they
    /// get SIGTERM (and SIGKILL 2 s later).
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// Stop the whole chain after this many seconds.
    #[arg(long)]
    timeout: Option<f64>,
    /// No summary when the chain succeeds.
    #[arg(short, long)]
    quiet: bool,
    /// Start the functions once and run the chain this many times on them,
    /// as warm functions (each loops over `faasin::invocations()`); the
    /// report then has one entry per invocation. Input: the --input file
    /// (or nothing), fed to every invocation.
    #[arg(long, value_name = "N")]
    warm: Option<usize>,
    /// The docker client to use for container functions.
    #[arg(long, default_value = "docker", env = "FAASIN_DOCKER")]
    docker: String,
}

/// `--transport`'s values, each with its line of help.
fn transports() -> impl TypedValueParser<Value = Transport> {
    let values = Transport::ALL.map(|t| PossibleValue::new(t.name()).help(t.about()));
    PossibleValuesParser::new(values).map(|s| s.parse::<Transport>().expect("one of ALL"))
}

fn seconds(what: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("--{what} {v}: not a number of seconds"))
}

fn run(args: RunArgs, pipe: bool) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("faasin: {msg}");
        ExitCode::from(2)
    };
    if pipe && (args.file.is_some() || args.commands.len() != 2) {
        return fail(
            "`faasin pipe` takes exactly two commands: faasin pipe 'cmd A' 'cmd B'".into(),
        );
    }
    if let Err(e) = check_capacity(args.capacity) {
        return fail(format!("--capacity: {e}"));
    }
    let chain = match &args.file {
        Some(path) => {
            if !args.stdio.is_empty() {
                return fail(
                    "--stdio is for inline commands; in a chain file say `stdio = true`".into(),
                );
            }
            chain_file::from_file(path, args.capacity)
        }
        None => from_inline(&args.commands, &args.stdio, args.capacity),
    };
    let chain = match chain {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let grace = match seconds("grace", args.grace) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let timeout = match args.timeout.map(|t| seconds("timeout", t)).transpose() {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let opts = Options {
        transport: args.transport,
        input: args.input,
        output: args.output,
        grace,
        timeout,
        progress: !args.quiet && !pipe && std::io::stderr().is_terminal(),
        docker: args.docker,
        redis: args.redis,
        store_dir: args.store_dir,
    };
    if let Some(count) = args.warm {
        if pipe {
            return fail("--warm is for `faasin run`".into());
        }
        let report = match faasin_runner::warm::run(&chain, &opts, count) {
            Ok(r) => r,
            Err(SetupError(e)) => return fail(e),
        };
        if !(report.ok && args.quiet) {
            eprint!("{}", report.summary());
        }
        return finish(
            &report,
            args.report.as_deref(),
            report.ok,
            signals::received(),
        );
    }
    let report = match faasin_runner::run_once(&chain, &opts) {
        Ok(r) => r,
        Err(SetupError(e)) => return fail(e),
    };
    if !(report.ok && (args.quiet || pipe)) {
        eprint!("{}", report.summary());
    }
    finish(
        &report,
        args.report.as_deref(),
        report.ok,
        report.interrupted_by,
    )
}

/// Writes the JSON report if asked to, and gives the run's exit status.
fn finish(
    report: &impl serde::Serialize,
    path: Option<&std::path::Path>,
    ok: bool,
    interrupted_by: Option<i32>,
) -> ExitCode {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(report).expect("a report always serializes");
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("faasin: cannot write the report to {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    match (ok, interrupted_by) {
        (true, _) => ExitCode::SUCCESS,
        (false, Some(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        (false, None) => ExitCode::from(1),
    }
}

/// `faasin cat`: the pass-through function, zero-copy on the ring side.
fn cat() -> ExitCode {
    // One invocation, or one per invocation when started warm.
    let result = (|| -> std::io::Result<()> {
        for inv in faasin::invocations() {
            let mut inv = inv?;
            let mut total = 0u64;
            loop {
                let n = {
                    let buf = inv.input.fill_buf()?;
                    if buf.is_empty() {
                        break;
                    }
                    inv.output.write_all(buf)?;
                    buf.len()
                };
                inv.input.consume(n);
                total += n as u64;
            }
            inv.output.flush()?;
            inv.finish(format!("{{\"bytes\": {total}}}\n").as_bytes())?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faasin cat: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Run(a) => run(a, false),
        Cmd::Pipe(a) => run(a, true),
        Cmd::Cat => cat(),
        Cmd::Serve { config } => faasin_platform::serve(&config),
        Cmd::Stdio { argv } => {
            let argv = argv.strip_prefix(&["--".to_string()]).unwrap_or(&argv);
            faasin_runner::stdio_watchdog::main(argv)
        }
        Cmd::Lambda { argv } => faasin_platform::lambda_host::main(&argv),
        Cmd::Guard { docker, run_id } => {
            guard::main(&docker, &run_id);
            ExitCode::SUCCESS
        }
    }
}
