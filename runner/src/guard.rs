//! A small watchdog process (`faasin __guard`) that outlives a runner killed
//! by SIGKILL, which can clean up nothing itself: the runner tells it every
//! function's process group and container on its stdin, and says `done` at
//! the end. If stdin ends without `done`, the runner died: the guard kills
//! every group and removes every container, and then every process that
//! still carries this run's `FAASIN_RUN` marker in its environment (a
//! function spawned in the instant before the runner could name its group,
//! or a descendant that left it).

use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Env variable set in every function of a run: the run's id.
pub const ENV_RUN: &str = "FAASIN_RUN";

/// The hidden subcommand that runs [`main`]: a binary built on this crate
/// dispatches `<exe> __guard DOCKER RUN_ID` to it, as `faasin` does.
pub const SUBCOMMAND: &str = "__guard";

/// The runner's side: a line per thing to clean up.
pub struct Guard {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    run_id: String,
}

impl Guard {
    /// Starts the guard; without one (it could not be started) the runner
    /// still works, only a SIGKILL of the runner may leave functions behind.
    pub fn start(docker: &str, run_id: &str) -> Guard {
        let child = std::env::current_exe().and_then(|exe| {
            let mut c = Command::new(exe);
            c.args([SUBCOMMAND, docker, run_id])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own group: a Ctrl-C meant for the runner does not stop it.
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c.spawn()
        });
        let mut child = child.ok();
        let stdin = child.as_mut().and_then(|c| c.stdin.take());
        Guard {
            child,
            stdin,
            run_id: run_id.to_string(),
        }
    }

    /// No watchdog, for a runner that is not the `faasin` binary (a test, a
    /// library user without the subcommand): a SIGKILL of the runner may
    /// then leave functions' descendants and containers behind.
    pub fn none(run_id: &str) -> Guard {
        Guard {
            child: None,
            stdin: None,
            run_id: run_id.to_string(),
        }
    }

    /// Marks `cmd` as a process of this run (env `FAASIN_RUN`), so the guard
    /// finds it and its descendants even before the runner names its group.
    pub fn mark(&self, cmd: &mut Command) {
        cmd.env(ENV_RUN, &self.run_id);
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
    pub fn done(&mut self) {
        self.say("done");
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// The guard process itself.
pub fn main(docker: &str, run_id: &str) {
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
    // Processes forked while we look may escape one pass; three passes
    // catch a function that was just being spawned.
    let marker = format!("{ENV_RUN}={run_id}");
    for _ in 0..3 {
        for pid in marked_processes(&marker) {
            // SAFETY: kill(2) on a process that carries this run's marker.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let names: Vec<&str> = containers.iter().map(String::as_str).collect();
    crate::containers::remove(&names, docker);
}

/// Pids whose environment contains `marker` exactly (as `NAME=value`).
fn marked_processes(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}
