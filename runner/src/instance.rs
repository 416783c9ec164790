//! A warm instance: a function's process (or container) started once, that
//! loops over `faasin::invocations()`. For each invocation it asks on the
//! handoff socket, gets the invocation's stream ends, and sends its return
//! value back on the same connection, where it then waits for the next one
//! (`FAASIN_WARM=2`).

use crate::chain::Function;
use crate::events::Sender;
use crate::guard::Guard;
use crate::handoff_server::HandoffServer;
use crate::process::{self, Exit, HandoffAt};
use crate::report::WarmFunction;
use faasin::handoff;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

/// What an instance's helpers (the handoff server, its wait thread) and its
/// own connection tell the one who runs it.
pub enum Event {
    /// Instance `i` asked for an invocation (or the END) on this connection.
    Asked(usize, OwnedFd),
    /// Instance `i`'s return value arrived (or its connection broke).
    Finished(usize, io::Result<handoff::ReturnValue>, Instant),
    /// Instance `i`'s process ended.
    Exited(usize, Exit),
    /// Made from `Exited` by whoever waits: the message that says so.
    Ended(String),
}

pub struct Instance {
    /// "function 2 (cat)", for messages.
    pub name: String,
    pid: Option<i32>,
    container: Option<String>,
    token: String,
    /// The connection on which it asked, while it waits for a grant.
    asked: Option<OwnedFd>,
    /// The connection of its running invocation, on which its return value
    /// will come.
    running: Option<OwnedFd>,
    status: Option<ExitStatus>,
    max_rss: Option<u64>,
}

/// Where an instance is started and whom it tells.
pub struct Start<'a> {
    pub server: &'a HandoffServer,
    pub guard: &'a mut Guard,
    pub docker: &'a str,
    /// Names its container, if it runs in one.
    pub container: Option<String>,
    pub events: Sender<Event>,
}

impl Instance {
    /// Starts function `f`, the `i`th of its chain, as a warm instance.
    pub fn start(f: &Function, i: usize, at: Start<'_>) -> Result<Instance, String> {
        let name = format!("function {} ({})", i + 1, f.name);
        let tx = at.events.clone();
        let token = at.server.register(move |conn| {
            tx.send(Event::Asked(i, conn));
        });
        let mut warm = f.clone();
        // It waits for its next invocation on the connection of its last
        // one (see faasin::handoff).
        warm.env
            .insert(faasin::ENV_WARM.into(), faasin::WARM_STAYS.into());
        let handoff = HandoffAt {
            dir: at.server.dir(),
            socket: at.server.socket(),
            token: &token,
        };
        let mut cmd = process::command(&warm, at.container.as_deref(), Some(handoff), at.docker);
        // A warm function's stdout is not its return value (that comes per
        // invocation): it goes where its stderr goes.
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        match process::dup_std(2) {
            Ok(fd) => cmd.stdout(Stdio::from(fd)),
            Err(_) => cmd.stdout(Stdio::null()),
        };
        let events = at.events;
        let on_exit = move |exit| {
            events.send(Event::Exited(i, exit));
        };
        match process::spawn(cmd, at.guard, at.container.as_deref(), on_exit) {
            Ok(child) => Ok(Instance {
                name,
                pid: Some(child.pid),
                container: at.container,
                token,
                asked: None,
                running: None,
                status: None,
                max_rss: None,
            }),
            Err(e) => {
                at.server.withdraw(&token);
                Err(format!("could not start {name}: {e}"))
            }
        }
    }

    /// It asked on `conn`.
    pub fn asked(&mut self, conn: OwnedFd) -> Result<(), String> {
        if self.asked.replace(conn).is_some() {
            return Err(format!(
                "{} asked for a second invocation before finishing one",
                self.name
            ));
        }
        Ok(())
    }

    pub fn is_asking(&self) -> bool {
        self.asked.is_some()
    }

    /// Hands it an invocation's ends; its return value will come on the
    /// connection ([`Instance::result_fd`]).
    pub fn grant(&mut self, input: OwnedFd, output: OwnedFd) -> Result<(), String> {
        let conn = self
            .asked
            .take()
            .ok_or_else(|| format!("{} was granted an invocation it did not ask for", self.name))?;
        handoff::grant(conn.as_fd(), Some(input.as_fd()), Some(output.as_fd()))
            .map_err(|e| format!("cannot hand {} its streams: {e}", self.name))?;
        // Our copies close here, so that its exit is seen by its neighbours
        // as EOF or a broken pipe.
        drop((input, output));
        self.running = Some(conn);
        Ok(())
    }

    /// The connection its return value will come on, while it runs one.
    pub fn result_fd(&self) -> Option<BorrowedFd<'_>> {
        self.running.as_ref().map(|c| c.as_fd())
    }

    /// Takes the running invocation's connection, to read its result.
    pub fn take_running(&mut self) -> Option<OwnedFd> {
        self.running.take()
    }

    /// Forgets an invocation still running: it is over for the runner.
    pub fn abandon(&mut self) {
        self.running = None;
    }

    /// Its process was reaped.
    pub fn exited(&mut self, exit: Exit) {
        self.status = exit.status.ok();
        self.max_rss = exit.max_rss;
        self.pid = None;
    }

    pub fn alive(&self) -> bool {
        self.pid.is_some()
    }

    /// Its process' exit status, once reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Answers END to its request: there is no more work.
    pub fn end(&mut self) {
        if let Some(c) = self.asked.take() {
            let _ = handoff::end(c.as_fd());
        }
    }

    /// Signals its process group, while it runs.
    pub fn signal(&self, sig: libc::c_int) {
        if let Some(pid) = self.pid {
            process::signal_group(pid, sig);
        }
    }

    /// The container it still runs in, if any.
    pub fn live_container(&self) -> Option<&str> {
        self.pid.and(self.container.as_deref())
    }

    /// Its token is of no more use once it is gone.
    pub fn withdraw(&self, server: &HandoffServer) {
        server.withdraw(&self.token);
    }

    pub fn report(&self, f: &Function) -> WarmFunction {
        WarmFunction {
            name: f.name.clone(),
            command: f.command.display(),
            container: self.container.clone(),
            exit_code: self.status.and_then(|st| st.code()),
            signal: self.status.and_then(|st| st.signal()),
            max_rss_bytes: self.max_rss,
        }
    }
}
