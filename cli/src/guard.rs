//! A small watchdog process (`faasin __guard`) that outlives a runner killed
//! by SIGKILL, which can clean up nothing itself: the runner tells it every
//! function's process group and container on its stdin, and says `done` at
//! the end. If stdin ends without `done`, the runner died: the guard kills
//! every group and removes every container.

use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The runner's side: a line per thing to clean up.
pub struct Guard {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Guard {
    /// Starts the guard; without one (it could not be started) the runner
    /// still works, only a SIGKILL of the runner may leave functions behind.
    pub fn start(docker: &str) -> Guard {
        let child = std::env::current_exe().and_then(|exe| {
            let mut c = Command::new(exe);
            c.args(["__guard", docker])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own group: a Ctrl-C meant for the runner does not stop it.
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c.spawn()
        });
        let mut child = child.ok();
        let stdin = child.as_mut().and_then(|c| c.stdin.take());
        Guard { child, stdin }
    }

    fn say(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            if writeln!(s, "{line}").is_err() {
                self.stdin = None;
            }
        }
    }

    pub fn group(&mut self, pgid: i32) {
        self.say(&format!("group {pgid}"));
    }

    pub fn container(&mut self, name: &str) {
        self.say(&format!("container {name}"));
    }

    /// Everything is cleaned up: the guard exits without doing anything,
    /// and is reaped here (so no zombie is left where init does not reap).
    pub fn done(mut self) {
        self.say("done");
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// The guard process itself.
pub fn main(docker: &str) {
    let mut groups = Vec::new();
    let mut containers = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.split_once(' ') {
            Some(("group", g)) => groups.extend(g.parse::<i32>().ok().filter(|g| *g > 1)),
            Some(("container", c)) => containers.push(c.to_string()),
            _ if line == "done" => return,
            _ => {}
        }
    }
    for g in groups {
        // SAFETY: kill(2) on a process group the runner created.
        unsafe { libc::kill(-g, libc::SIGKILL) };
    }
    if !containers.is_empty() {
        let _ = Command::new(docker)
            .args(["rm", "-f"])
            .args(&containers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
