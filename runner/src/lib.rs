//! The engine behind `faasin run`: chains of functions (processes or Docker
//! containers) whose streams are FAASIN rings, OS pipes, or stored whole
//! between functions (Redis, files) as today's platforms do.
//!
//! The model:
//! - a [`chain::Function`] says how to start a function; a [`chain::Chain`]
//!   is functions in order, with the ring capacity of each edge
//!   ([`chain_file`] reads them from TOML);
//! - a one-shot run starts every function fresh with its ends ([`run_once`]);
//! - an [`instance::Instance`] is a function started once that serves many
//!   invocations; a [`warm_chain::WarmChain`] holds one instance per function
//!   of a chain, and an [`invocation`] runs on it with fresh streams;
//! - a [`transport::Transport`] carries each edge; the stored ones go
//!   through [`store`] and [`staged`], shared by one-shot and warm runs;
//! - every run ends in a [`report`] (JSON) and a human [`summary`].
//!
//! A binary built on this crate must dispatch the hidden subcommand
//! [`guard::SUBCOMMAND`] to [`guard::main`]: the watchdog that cleans up
//! after a runner killed by SIGKILL runs as a second copy of it.

pub mod chain;
pub mod chain_file;
pub mod containers;
mod edge;
pub mod events;
pub mod guard;
pub mod handoff_server;
pub mod instance;
pub mod invocation;
mod oneshot;
mod oneshot_report;
mod oneshot_stored;
pub mod options;
pub mod process;
mod progress;
mod pumps;
mod redis;
pub mod report;
mod run_io;
pub mod signals;
pub mod staged;
pub mod stdio_watchdog;
pub mod store;
mod summary;
mod supervise;
pub mod transport;
pub mod warm;
pub mod warm_chain;
pub mod workers;

pub use options::{Options, SetupError};
pub use report::{Report, WarmReport};
pub use transport::Transport;

/// Runs a chain once, every function started fresh: over rings or pipes
/// they all run at once and stream; over a store one after the other.
pub fn run_once(chain: &chain::Chain, opts: &Options) -> Result<Report, SetupError> {
    if opts.transport.is_stored() {
        oneshot_stored::run(chain, opts)
    } else {
        oneshot::run(chain, opts)
    }
}
