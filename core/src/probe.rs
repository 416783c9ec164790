//! A read-only view of a ring's two positions, for the runner that created
//! the ring but handed both ends to other processes: it can still tell how
//! many bytes went through (progress lines, per-function byte counts).

use crate::mapping::{self, Mapping};
use crate::sync::Ordering;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// Observes the positions of one ring without taking part in it: it never
/// stores into the header, never wakes or waits, and does not keep either
/// end alive (EOF and hang-up work as if it did not exist).
///
/// The numbers come from shared memory that the two ends may scribble on, so
/// they are reported as they are, for information only.
#[derive(Clone)]
pub struct Probe {
    map: Arc<Mapping>,
}

impl Probe {
    pub(crate) fn open(memfd: &OwnedFd, capacity: usize) -> io::Result<Probe> {
        Ok(Probe {
            map: Arc::new(Mapping::open(memfd, capacity, mapping::page_size())?),
        })
    }

    /// Bytes the writer has committed so far.
    pub fn written(&self) -> u64 {
        // Relaxed: a statistic; nothing is read on the strength of it.
        self.map.header().writer.write_pos.load(Ordering::Relaxed)
    }

    /// Bytes the reader has consumed so far.
    pub fn consumed(&self) -> u64 {
        // Relaxed: as in `written`.
        self.map.header().reader.read_pos.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("written", &self.written())
            .field("consumed", &self.consumed())
            .finish()
    }
}
