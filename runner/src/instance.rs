//! A warm instance: a function's process (or container) started once, that
//! loops over `faasin::invocations()`. For each invocation it asks on the
//! handoff socket, gets the invocation's stream ends, and sends its return
//! value back on the same connection, where it then waits for the next one
//! (`FAASIN_WARM=2`).
//!
//! Each instance has a mailbox of its own (its asks, from the handoff
//! server; its exit, from its wait thread), so instances can be grouped into
//! any invocation and [`wait_any`] of a group waits for all of them at once.

use crate::chain::Function;
use crate::events::{poll_readable, Mailbox};
use crate::guard::Guard;
use crate::handoff_server::HandoffServer;
use crate::options::{KILL_AFTER, MAX_RETURN, TICK};
use crate::process::{self, Exit, HandoffAt};
use crate::report::WarmFunction;
use faasin::handoff::{self, GrantEnd};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a function may pause in the middle of sending its return value.
const RESULT_STALL: Duration = Duration::from_secs(5);

/// What an instance's helpers tell its mailbox.
enum Note {
    Asked(OwnedFd),
    Exited(Exit),
}

/// What an instance has to say.
pub enum Event {
    /// It asked for an invocation (or the END): [`Instance::is_asking`].
    Asked,
    /// The return value of its running invocation arrived (or its
    /// connection broke).
    Finished(io::Result<handoff::ReturnValue>, Instant),
    /// Its process ended, with this status (or why it cannot be waited for).
    Exited(io::Result<ExitStatus>),
}

pub struct Instance {
    /// "function 2 (cat)", for messages.
    pub name: String,
    pid: Option<i32>,
    container: Option<String>,
    token: String,
    mailbox: Mailbox<Note>,
    /// The connection on which it asked, while it waits for a grant.
    asked: Option<OwnedFd>,
    /// The connection of its running invocation, on which its return value
    /// will come.
    running: Option<OwnedFd>,
    status: Option<ExitStatus>,
    max_rss: Option<u64>,
    /// Started by someone else (a Kubernetes pod, say): it joined through
    /// the handoff socket, and its connection is all there is of it.
    joined: bool,
    /// Unique in this process: how a neighbour knows that it holds the
    /// other end of an edge this instance kept.
    pub(crate) id: u64,
    /// The instances at the other end of its kept input and output ends,
    /// if it keeps them (see `WarmChain::take_edges`).
    pub(crate) kept: [Option<u64>; 2],
    /// Its last return value said that its kept ends can restart.
    pub(crate) restartable: bool,
}

/// The next [`Instance::id`].
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    // Relaxed: a counter; only uniqueness matters.
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a polled fd of an instance is.
#[derive(Clone, Copy)]
enum Watch {
    /// Its mailbox.
    Mailbox,
    /// The connection of its running invocation.
    Result,
    /// The connection on which a joined instance waits for a grant.
    Asking,
}

/// Takes each line an instance writes on stdout or stderr.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where an instance is started.
pub struct Start<'a> {
    pub server: &'a HandoffServer,
    pub guard: &'a mut Guard,
    pub docker: &'a str,
    /// Names its container, if it runs in one.
    pub container: Option<String>,
    /// Its stdout and stderr lines; `None`: they go to the runner's stderr.
    pub log: Option<LogSink>,
}

impl Instance {
    /// Starts function `f`, the `i`th of its chain, as a warm instance.
    pub fn start(f: &Function, i: usize, at: Start<'_>) -> Result<Instance, String> {
        let name = format!("function {} ({})", i + 1, f.name);
        let (tx, mailbox) =
            Mailbox::new().map_err(|e| format!("cannot make a mailbox for {name}: {e}"))?;
        let asks = tx.clone();
        let token = at.server.register(move |conn| {
            asks.send(Note::Asked(conn));
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
        cmd.stdin(Stdio::null());
        if at.log.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            cmd.stderr(Stdio::inherit());
            match process::dup_std(2) {
                Ok(fd) => cmd.stdout(Stdio::from(fd)),
                Err(_) => cmd.stdout(Stdio::null()),
            };
        }
        let on_exit = move |exit| {
            tx.send(Note::Exited(exit));
        };
        match process::spawn(cmd, at.guard, at.container.as_deref(), on_exit) {
            Ok(mut child) => {
                // The threads end at EOF, when the instance has exited.
                if let Some(log) = at.log {
                    child.stdout.take().map(|o| lines_to(o, Arc::clone(&log)));
                    child.stderr.take().map(|e| lines_to(e, log));
                }
                Ok(Instance {
                    name,
                    pid: Some(child.pid),
                    container: at.container,
                    token,
                    mailbox,
                    asked: None,
                    running: None,
                    status: None,
                    max_rss: None,
                    joined: false,
                    id: next_id(),
                    kept: [None; 2],
                    restartable: false,
                })
            }
            Err(e) => {
                at.server.withdraw(&token);
                Err(format!("could not start {name}: {e}"))
            }
        }
    }

    /// An instance someone else started, which joined by presenting its
    /// function's join token on `conn` (and so asks for an invocation).
    /// It cannot be signalled or waited for: it is gone when its
    /// connection hangs up, and stopping it answers END.
    pub fn joined(name: String, conn: OwnedFd) -> Result<Instance, String> {
        // Nothing ever sends to its mailbox: it has no process to wait for.
        let (_, mailbox) =
            Mailbox::new().map_err(|e| format!("cannot make a mailbox for {name}: {e}"))?;
        Ok(Instance {
            name,
            pid: None,
            container: None,
            token: String::new(),
            mailbox,
            asked: Some(conn),
            running: None,
            status: None,
            max_rss: None,
            joined: true,
            id: next_id(),
            kept: [None; 2],
            restartable: false,
        })
    }

    /// It asked on `conn`.
    fn asked(&mut self, conn: OwnedFd) -> Result<(), String> {
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

    /// Hands it an invocation's ends and parameters (empty: none); its
    /// return value will come on the connection. Parameters that
    /// `faasin::handoff::check_params` refuses leave it asking.
    pub fn grant(
        &mut self,
        input: GrantEnd<'_>,
        output: GrantEnd<'_>,
        params: &[u8],
    ) -> Result<(), String> {
        handoff::check_params(params)
            .map_err(|e| format!("cannot hand {} its invocation: {e}", self.name))?;
        let conn = self
            .asked
            .take()
            .ok_or_else(|| format!("{} was granted an invocation it did not ask for", self.name))?;
        handoff::grant_ends(conn.as_fd(), input, output, params)
            .map_err(|e| format!("cannot hand {} its streams: {e}", self.name))?;
        self.running = Some(conn);
        Ok(())
    }

    /// Its next event, if one is there (`ready`: that fd is readable).
    /// Err: it broke the protocol.
    fn take_event(&mut self, ready: Watch) -> Result<Option<Event>, String> {
        if let Watch::Asking = ready {
            // Nothing may come while it waits for a grant: it hung up, or
            // broke the protocol; either way it is gone.
            self.asked = None;
            return Ok(Some(Event::Exited(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("{} left: its connection closed", self.name),
            )))));
        }
        if let Watch::Result = ready {
            if let Some(conn) = self.running.take() {
                // Readable: it is sending its value (or hung up); the
                // value's pieces follow each other at once.
                let r = handoff::read_result_within(conn.as_fd(), MAX_RETURN, RESULT_STALL);
                let at = Instant::now();
                self.restartable = matches!(&r, Ok(v) if v.restartable);
                if matches!(&r, Ok(v) if v.stays) {
                    // It waits there for its next invocation: asked.
                    self.asked(conn)?;
                }
                return Ok(Some(Event::Finished(r, at)));
            }
        }
        match self.mailbox.take() {
            Some(Note::Asked(conn)) => self.asked(conn).map(|()| Some(Event::Asked)),
            Some(Note::Exited(exit)) => {
                self.status = exit.status.as_ref().ok().copied();
                self.max_rss = exit.max_rss;
                self.pid = None;
                Ok(Some(Event::Exited(exit.status)))
            }
            None => Ok(None),
        }
    }

    /// Forgets an invocation still running: it is over for the runner.
    pub fn abandon(&mut self) {
        self.running = None;
    }

    pub fn alive(&self) -> bool {
        self.pid.is_some() || (self.joined && (self.asked.is_some() || self.running.is_some()))
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

    /// Stops it and waits until it is gone: END if it is asking (it exits
    /// by itself), SIGTERM after `grace`, then `docker rm -f` and SIGKILL.
    /// Blocks for up to `grace` + 2 x [`KILL_AFTER`].
    pub fn stop(mut self, grace: Duration, docker: &str) {
        self.abandon();
        self.end();
        if self.exits_within(grace) {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.exits_within(KILL_AFTER) {
            return;
        }
        if let Some(c) = self.live_container() {
            crate::containers::remove(&[c], docker);
        }
        self.signal(libc::SIGKILL);
        self.exits_within(KILL_AFTER);
    }

    /// Waits up to `within` for its process to be reaped.
    fn exits_within(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while self.alive() {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            if wait_any(std::slice::from_mut(self), until - now).is_err() {
                std::thread::sleep(TICK);
            }
        }
        true
    }

    /// Takes what its mailbox holds (an exit, an ask) without waiting.
    pub fn refresh(&mut self) {
        let _ = wait_any(std::slice::from_mut(self), Duration::ZERO);
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

/// A thread that hands each line of `src` to `log` (lossily as UTF-8;
/// overlong lines in pieces), until EOF.
fn lines_to(src: impl Read + Send + 'static, log: LogSink) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut r).take(64 << 10).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    log(text.trim_end_matches(['\n', '\r']));
                }
            }
        }
    })
}

/// Waits up to `timeout` for the first of `instances` to have something to
/// say; return values go first. `Ok(None)`: nothing in time.
pub fn wait_any(
    instances: &mut [Instance],
    timeout: Duration,
) -> Result<Option<(usize, Event)>, String> {
    // Who each polled fd belongs to, and what it is.
    let mut owners: Vec<(usize, Watch)> = Vec::new();
    let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        if let Some(c) = &inst.running {
            owners.push((i, Watch::Result));
            fds.push(c.as_fd());
        }
        // A started instance's exit comes by its mailbox; a joined one has
        // only its connection to say it is gone.
        if let (true, Some(c)) = (inst.joined, &inst.asked) {
            owners.push((i, Watch::Asking));
            fds.push(c.as_fd());
        }
        owners.push((i, Watch::Mailbox));
        fds.push(inst.mailbox.fd());
    }
    let ready = poll_readable(&fds, Some(timeout)).map_err(|e| format!("poll: {e}"))?;
    drop(fds);
    for (&(i, watch), _) in owners.iter().zip(&ready).filter(|(_, r)| **r) {
        if let Some(ev) = instances[i].take_event(watch)? {
            return Ok(Some((i, ev)));
        }
    }
    Ok(None)
}
