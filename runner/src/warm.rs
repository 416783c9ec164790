//! `faasin run --warm N`: the chain's functions start once and serve N
//! invocations, as a platform keeps functions warm between calls. Each
//! function loops over `faasin::invocations()`; for every invocation it
//! asks the handoff socket for fresh stream ends and, when done, sends its
//! return value back on that connection.

use crate::chain::Chain;
use crate::guard::Guard;
use crate::handoff_server::{random_token, HandoffServer};
use crate::invocation::{self, Output};
use crate::options::{Options, SetupError};
use crate::report::{status_text, InvocationReport, WarmReport};
use crate::run_io::open_output;
use crate::store::{Store, StoreOp};
use crate::transport::Transport;
use crate::warm_chain::{Setup, WarmChain};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;

/// Runs the chain's functions warm and invokes the chain `count` times,
/// each time with the whole `--input` file (or nothing) as its payload.
pub fn run(chain: &Chain, opts: &Options, count: usize) -> Result<WarmReport, SetupError> {
    if count == 0 {
        return Err(SetupError("--warm needs at least one invocation".into()));
    }
    if let Some(f) = chain.functions.iter().find(|f| f.stdio) {
        return Err(SetupError(format!(
            "--warm runs functions that loop over faasin::invocations(); function {:?} is a stdio program",
            f.name
        )));
    }
    crate::containers::check_images(chain, &opts.docker)?;
    if opts.transport == Transport::Faasin {
        // The runner's own ends (the feeder's and the output pump's) open
        // the first and last edge's ring memory again each invocation.
        faasin::keep_mappings();
    }
    // Read once, shared (not copied) by every invocation's feeder.
    let input: Arc<[u8]> = match &opts.input {
        Some(p) => std::fs::read(p)
            .map_err(|e| SetupError(format!("cannot read input file {}: {e}", p.display())))?
            .into(),
        None => Arc::from(Vec::new()),
    };
    let mut output = open_output(opts)?;
    let run_id = random_token()[..8].to_string();
    let store = match opts.transport.is_stored() {
        true => Some(Store::open(
            opts.transport,
            opts.redis.as_deref(),
            opts.store_dir.as_deref(),
            &run_id,
        )?),
        false => None,
    };
    let server = HandoffServer::start()
        .map_err(|e| SetupError(format!("cannot serve the handoff socket: {e}")))?;
    crate::signals::install();
    let mut guard = Guard::start(&opts.docker, &run_id);
    if let Some(pid) = store.as_ref().and_then(Store::server_pid) {
        guard.group(pid);
    }
    let setup = Setup {
        transport: opts.transport,
        server: &server,
        guard: &mut guard,
        docker: &opts.docker,
        run_id: &run_id,
        timeout: opts.timeout,
    };
    let mut w = WarmChain::start(chain, setup)?;
    let mut run = WarmRun {
        store,
        input,
        ops: Vec::new(),
        invocations: Vec::new(),
        warm_up_s: None,
    };
    let mut error = w.start_error.take();
    if error.is_none() {
        error = run.invocations(&mut w, &mut output, count).err();
    }
    w.end_all(error.is_none(), opts.grace, &opts.docker);
    guard.done();
    drop(server);
    Ok(run.report(&w, opts, count, error))
}

struct WarmRun {
    store: Option<Store>,
    input: Arc<[u8]>,
    ops: Vec<StoreOp>,
    invocations: Vec<InvocationReport>,
    /// Until every function had asked for its first invocation.
    warm_up_s: Option<f64>,
}

impl WarmRun {
    /// Runs `count` invocations, one after the other; the next one is
    /// asked for right away.
    fn invocations(
        &mut self,
        w: &mut WarmChain<'_>,
        output: &mut Output,
        count: usize,
    ) -> Result<(), String> {
        w.wait_all_asked()?;
        self.warm_up_s = Some(w.started_at().elapsed().as_secs_f64());
        for k in 0..count {
            let inv = match &self.store {
                None => {
                    let payload = Box::new(std::io::Cursor::new(Arc::clone(&self.input)));
                    invocation::streamed(w, payload, output)
                }
                Some(s) => invocation::staged(w, s, Arc::clone(&self.input), output, &mut self.ops),
            };
            self.invocations
                .push(inv.map_err(|e| format!("invocation {}: {e}", k + 1))?);
            if k + 1 < count {
                w.wait_all_asked()?;
            }
        }
        Ok(())
    }

    fn report(
        self,
        w: &WarmChain<'_>,
        opts: &Options,
        count: usize,
        mut error: Option<String>,
    ) -> WarmReport {
        let store = self.store.as_ref().map(|s| {
            s.clear(w.chain.functions.len());
            s.describe(&self.ops)
        });
        let functions = (w.chain.functions.iter())
            .zip(&w.instances)
            .map(|(f, inst)| inst.report(f))
            .collect();
        if error.is_none() {
            let failed = w.instances.iter().find_map(|inst| {
                let st = inst.status().filter(|st| !st.success())?;
                Some(format!(
                    "{} ended with {}",
                    inst.name,
                    status_text(st.code(), st.signal())
                ))
            });
            error = failed;
        }
        if let Some(sig) = crate::signals::received() {
            error.get_or_insert(format!("interrupted by {}", crate::signals::name(sig)));
        }
        WarmReport {
            ok: error.is_none(),
            error,
            transport: opts.transport.name().into(),
            warm_invocations: count,
            elapsed_s: w.started_at().elapsed().as_secs_f64(),
            warm_up_s: self.warm_up_s,
            functions,
            invocations: self.invocations,
            store,
        }
    }
}
