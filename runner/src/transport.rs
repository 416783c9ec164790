//! How bytes go from one function to the next: a FAASIN ring, a plain OS
//! pipe, or stored whole between two functions (Redis, files; see
//! `store`) as today's platforms do.

use faasin::Probe;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// FAASIN shared-memory rings.
    Faasin,
    /// Plain OS pipes, for comparison.
    Pipe,
    /// Today's platforms: each function's whole output is SET into Redis,
    /// and the next function starts when it has ended and gets it by GET.
    Redis,
    /// The same with files (on tmpfs by default) instead of Redis.
    File,
    /// The same with the runner holding each whole output in its memory
    /// and passing it to the next function as its payload, as OpenWhisk
    /// sequences and Step Functions do.
    Payload,
}

impl Transport {
    pub const ALL: [Transport; 5] = [
        Transport::Faasin,
        Transport::Pipe,
        Transport::Redis,
        Transport::File,
        Transport::Payload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Faasin => "faasin",
            Transport::Pipe => "pipe",
            Transport::Redis => "redis",
            Transport::File => "file",
            Transport::Payload => "payload",
        }
    }

    /// One line for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            Transport::Faasin => "FAASIN shared-memory rings",
            Transport::Pipe => "plain OS pipes, for comparison",
            Transport::Redis => {
                "today's platforms: each function's whole output is SET into Redis, and the next function starts when it has ended and gets it by GET"
            }
            Transport::File => {
                "the same with files (on tmpfs by default) instead of Redis"
            }
            Transport::Payload => {
                "the same with the runner holding each whole output and passing it on as the next function's payload, as OpenWhisk sequences do"
            }
        }
    }

    /// True for the transports that store each function's whole output.
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            Transport::Redis | Transport::File | Transport::Payload
        )
    }
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Transport, String> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown transport {s:?}: faasin, pipe, redis, file or payload"))
    }
}

/// The two ends of one stream between neighbours.
pub struct StreamEnds {
    pub read: OwnedFd,
    pub write: OwnedFd,
    /// Counts what crossed a FAASIN ring, from outside the two parties.
    pub probe: Option<Probe>,
}

/// A fresh stream of `capacity` bytes: a ring over FAASIN, else an OS pipe
/// (the stored transports also hand a pipe to a function whose input or
/// output the runner carries).
pub fn stream(transport: Transport, capacity: usize) -> io::Result<StreamEnds> {
    if transport == Transport::Faasin {
        let (read, write, probe) = faasin::pipe_fds_probed(capacity)?;
        return Ok(StreamEnds {
            read,
            write,
            probe: Some(probe),
        });
    }
    let (read, write) = sized_pipe(capacity)?;
    Ok(StreamEnds {
        read,
        write,
        probe: None,
    })
}

/// An OS pipe with the same buffer as a ring of `capacity`, for a fair
/// comparison; a refusal (over /proc/sys/fs/pipe-max-size) keeps the default.
pub fn sized_pipe(capacity: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = os_pipe()?;
    // SAFETY: fcntl on our own pipe fd; a failure leaves it as it was.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, capacity as libc::c_int) };
    Ok((r, w))
}

/// A close-on-exec OS pipe: (read end, write end).
pub fn os_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn names_parse_back() {
        for t in Transport::ALL {
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
        }
        assert!("tcp".parse::<Transport>().unwrap_err().contains("tcp"));
    }

    #[test]
    fn every_stream_carries_bytes_and_only_rings_are_probed() {
        for t in [Transport::Faasin, Transport::Pipe] {
            let s = stream(t, 1 << 16).unwrap();
            assert_eq!(s.probe.is_some(), t == Transport::Faasin);
            let mut w = faasin::Writer::from_fd(s.write).unwrap();
            w.write_all(b"hello").unwrap();
            drop(w);
            let mut got = Vec::new();
            faasin::Reader::from_fd(s.read)
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, b"hello", "{t:?}");
        }
    }
}
