//! FAASIN: UNIX pipes for chained serverless functions.
//!
//! A stream is a lock-free single-producer/single-consumer ring in a sealed
//! memfd, handed to each side as ONE fd (an `AF_UNIX` `SOCK_SEQPACKET`
//! socket) exactly like a pipe end. The socket carries the ring's memfd in
//! its first message, wakes a sleeping peer, and is the lifeline: when the
//! peer exits or crashes, we see the hang-up. A reader that keeps sleeping
//! in blocking reads moves its sleep to a pipe of its own, which wakes
//! faster.
//!
//! ```
//! use std::io::{Read, Write};
//! let (mut r, mut w) = faasin::pipe(faasin::DEFAULT_CAPACITY)?;
//! w.write_all(b"hello")?;
//! drop(w); // EOF for the reader after every byte
//! let mut s = String::new();
//! r.read_to_string(&mut s)?;
//! assert_eq!(s, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Semantics follow a pipe: a read returns 1..=len bytes as soon as any are
//! there, 0 at EOF only after every committed byte was read; a write after the
//! reader left fails with `BrokenPipe` (never SIGPIPE); non-blocking mode
//! gives `WouldBlock`; closing wakes a blocked peer. An fd that is not a
//! FAASIN endpoint is used with plain `read`/`write`, so functions also run in
//! ordinary shell pipelines.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod bell;
mod copy;
mod end;
mod endpoint;
mod function_env;
pub mod handoff;
mod header;
mod invocations;
mod kept;
mod mapping;
mod options;
mod probe;
mod reader;
mod region;
mod ring;
mod sync;
mod sysfd;
#[cfg(feature = "tokio")]
pub mod tokio_io;
mod wait;
mod writer;

pub use copy::copy_bytes;
pub use function_env::{
    input, output, params, stream_fds_of, streams_of, DEFAULT_INPUT_FD, DEFAULT_OUTPUT_FD,
    ENV_INPUT_FD, ENV_OUTPUT_FD, ENV_PARAMS,
};
pub use invocations::{invocations, Completion, Invocation, Invocations, ENV_WARM, WARM_STAYS};
pub use mapping::{keep_mappings, MAX_CAPACITY, MIN_CAPACITY};
pub use options::{DEFAULT_SPIN, MIN_ADAPTIVE_SPIN};
pub use probe::Probe;
pub use reader::Reader;
pub use region::Keepalive;
pub use writer::{WriteGrant, Writer};

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

/// The examples of `core/README.md`, run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Default ring capacity: 1 MiB.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Creates a stream and returns its two ends as raw endpoint fds (read end,
/// write end), like `pipe(2)`: hand them to children or containers, and
/// open them there with [`Reader::from_fd`] / [`Writer::from_fd`].
///
/// `capacity` must be a power of two between one page and [`MAX_CAPACITY`].
/// Both fds are close-on-exec.
pub fn pipe_fds(capacity: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w, _memfd) = pipe_fds_inner(capacity)?;
    Ok((r, w))
}

/// Like [`pipe_fds`], plus a [`Probe`] through which the creator can watch
/// how many bytes went through after handing both ends away.
pub fn pipe_fds_probed(capacity: usize) -> io::Result<(OwnedFd, OwnedFd, Probe)> {
    let (r, w, memfd) = pipe_fds_inner(capacity)?;
    let probe = Probe::open(&memfd, capacity)?;
    Ok((r, w, probe))
}

fn pipe_fds_inner(capacity: usize) -> io::Result<(OwnedFd, OwnedFd, OwnedFd)> {
    let memfd = mapping::create_memfd(capacity)?;
    let (read_end, write_end) = endpoints_on(&memfd, capacity)?;
    Ok((read_end, write_end, memfd))
}

/// A ring's memory kept by its creator, to open stream after stream on it.
///
/// The first write into fresh shared memory costs a page fault and a page
/// allocation per 4 KiB, and a new mapping of used memory still a page
/// fault per 4 KiB: for a short stream that is most of its cost (see
/// BENCHMARKS.md, `ring_setup` in `benches/`; a warm function keeps its
/// mappings, see [`keep_mappings`]). A runner that
/// starts the same hop again and again (warm functions, `faasin run --warm`)
/// keeps one `RingMemory` per hop and calls [`RingMemory::endpoints`] for
/// each stream.
#[derive(Debug)]
pub struct RingMemory {
    memfd: OwnedFd,
    capacity: usize,
}

impl RingMemory {
    /// New ring memory of `capacity` bytes (as for [`pipe_fds`]).
    pub fn new(capacity: usize) -> io::Result<RingMemory> {
        Ok(RingMemory {
            memfd: mapping::create_memfd(capacity)?,
            capacity,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The ends of a new, empty stream on this memory (read end, write end,
    /// as [`pipe_fds`]): positions and flags start again from zero, the old
    /// bytes stay in the data area but are never readable.
    ///
    /// Call it only when every end opened on this memory before is closed
    /// and unmapped (its function finished): an end still open would write
    /// its position or close flag into the new stream. The parties of the
    /// new stream should be those of the old one, since a process that kept
    /// a mapping can read what flows later.
    pub fn endpoints(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        mapping::reset_positions(&self.memfd)?;
        endpoints_on(&self.memfd, self.capacity)
    }
}

/// A fresh endpoint pair whose hellos carry `memfd`.
fn endpoints_on(memfd: &OwnedFd, capacity: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (read_end, write_end) = endpoint::seqpacket_pair()?;
    let hello = |role| endpoint::Hello {
        version: header::VERSION,
        role,
        capacity: capacity as u64,
        header_size: mapping::page_size() as u32,
    };
    // Each hello is sent from the opposite socket, so it waits on its end.
    endpoint::send_hello(
        write_end.as_fd(),
        &hello(endpoint::Role::Reader),
        memfd.as_fd(),
    )?;
    endpoint::send_hello(
        read_end.as_fd(),
        &hello(endpoint::Role::Writer),
        memfd.as_fd(),
    )?;
    Ok((read_end, write_end))
}

/// Creates a stream within this process: `(Reader, Writer)`.
pub fn pipe(capacity: usize) -> io::Result<(Reader, Writer)> {
    let (r, w) = pipe_fds(capacity)?;
    Ok((Reader::from_fd(r)?, Writer::from_fd(w)?))
}

/// True when `fd` looks like a FAASIN endpoint (an `AF_UNIX` `SOCK_SEQPACKET`
/// socket); nothing is read from it.
pub fn is_endpoint(fd: RawFd) -> bool {
    if !sysfd::is_open(fd) {
        return false;
    }
    // SAFETY: the fd is open, and the borrow does not outlive this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    endpoint::is_seqpacket_unix(fd)
}
