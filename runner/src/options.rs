//! What a run is asked to do, and the limits every part of the engine shares.

use crate::transport::Transport;
use std::path::PathBuf;
use std::time::Duration;

/// How to run a chain (`faasin run`'s flags, minus the chain itself).
#[derive(Debug, Clone)]
pub struct Options {
    pub transport: Transport,
    /// Feed this file to the first function (default: stdin).
    pub input: Option<PathBuf>,
    /// Write the last function's output here (default: stdout).
    pub output: Option<PathBuf>,
    /// After a function fails, how long the others may go on before they
    /// get SIGTERM (then SIGKILL after [`KILL_AFTER`]).
    pub grace: Duration,
    /// Stop the whole run after this long.
    pub timeout: Option<Duration>,
    /// Draw live progress lines on stderr.
    pub progress: bool,
    /// The docker client to run containers with.
    pub docker: String,
    /// `--transport redis`: a Redis to use instead of starting one.
    pub redis: Option<String>,
    /// `--transport file`: where the files go (default: /dev/shm).
    pub store_dir: Option<PathBuf>,
}

/// A problem found before anything ran (the CLI exits with status 2).
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// Between SIGTERM and SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(2);
/// A return value longer than this is cut (the rest is read and dropped).
pub const MAX_RETURN: usize = 16 << 20;
/// How often supervising loops look at signals, timeouts and progress.
pub const TICK: Duration = Duration::from_millis(20);
