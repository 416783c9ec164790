//! An edge of a one-shot run over rings or pipes, and what is known of the
//! bytes that crossed it: counted by a probe on a ring, or by the runner's
//! own copies where it holds an end.

use crate::pumps::Meter;
use crate::transport::{self, StreamEnds, Transport};
use faasin::Probe;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// One ring (or pipe) between two neighbours; edge 0 feeds the first
/// function, edge n is drained by the runner.
pub struct Edge {
    pub read: Option<OwnedFd>,
    pub write: Option<OwnedFd>,
    pub capacity: usize,
    probe: Option<Probe>,
    /// Counted where the runner itself writes (input pump, stdio adapter).
    pub written: Option<Arc<Meter>>,
    /// Counted where the runner itself reads (output pump, stdio adapter).
    pub consumed: Option<Arc<Meter>>,
}

impl Edge {
    pub fn new(transport: Transport, capacity: usize) -> io::Result<Edge> {
        let StreamEnds { read, write, probe } = transport::stream(transport, capacity)?;
        Ok(Edge {
            read: Some(read),
            write: Some(write),
            capacity,
            probe,
            written: None,
            consumed: None,
        })
    }

    pub fn written(&self) -> Option<u64> {
        match (&self.probe, &self.written, &self.consumed) {
            (Some(p), _, _) => Some(p.written()),
            (None, Some(m), _) => Some(m.bytes()),
            // A reader that drained the pipe to EOF read all that was written.
            (None, None, Some(m)) if m.reached_eof() => Some(m.bytes()),
            _ => None,
        }
    }

    pub fn consumed(&self) -> Option<u64> {
        match (&self.probe, &self.consumed) {
            (Some(p), _) => Some(p.consumed()),
            (None, Some(m)) => Some(m.bytes()),
            _ => None,
        }
    }

    /// Seen from outside: has anything been written yet?
    pub fn probed_any(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.written() > 0)
    }

    /// When the runner's own writer put the first byte in, if it is one.
    pub fn first_written_s(&self) -> Option<Option<f64>> {
        self.written.as_ref().map(|m| m.first_byte_s())
    }
}
