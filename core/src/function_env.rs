//! The conventions by which a function finds its streams
//! (`docs/design.md`, "Conventions for a function").

use crate::{handoff, sysfd, Reader, Writer};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Env variable with the fd number of the function's input stream.
pub const ENV_INPUT_FD: &str = "FAASIN_FD";
/// Env variable with the fd number of the function's output stream.
pub const ENV_OUTPUT_FD: &str = "FAASOUT_FD";
/// Fd used for the input stream when `FAASIN_FD` is absent (only if it is a
/// FAASIN endpoint).
pub const DEFAULT_INPUT_FD: RawFd = 3;
/// Fd used for the output stream when `FAASOUT_FD` is absent.
pub const DEFAULT_OUTPUT_FD: RawFd = 4;
/// Env variable with a one-shot function's invocation parameters.
pub const ENV_PARAMS: &str = "FAASIN_PARAMS";

// Relaxed: these only make sure each fd is taken into an OwnedFd once.
static INPUT_TAKEN: AtomicBool = AtomicBool::new(false);
static OUTPUT_TAKEN: AtomicBool = AtomicBool::new(false);
static HANDOFF: Mutex<Option<handoff::Streams>> = Mutex::new(None);

const HOW_TO: &str = "run the function in a chain, e.g. `faasin run 'producer' 'this-function'`, \
                      or set the variable to an open fd (0 for stdin, 1 for stdout)";

/// The function's input stream: from `FAASIN_SOCKET` (+ `FAASIN_TOKEN`) when
/// set, else the fd in `FAASIN_FD`, else fd 3 if it is a FAASIN endpoint.
/// It can be taken once per process.
pub fn input() -> io::Result<Reader> {
    Reader::from_fd(take(ENV_INPUT_FD, DEFAULT_INPUT_FD, &INPUT_TAKEN, true)?)
}

/// The function's output stream: from `FAASIN_SOCKET` when set, else the fd
/// in `FAASOUT_FD`, else fd 4 if it is a FAASIN endpoint. Taken once.
pub fn output() -> io::Result<Writer> {
    Writer::from_fd(take(
        ENV_OUTPUT_FD,
        DEFAULT_OUTPUT_FD,
        &OUTPUT_TAKEN,
        false,
    )?)
}

/// A one-shot function's invocation parameters (UTF-8, JSON by convention),
/// from `FAASIN_PARAMS`; `None` when it is unset or empty. A value that is
/// not UTF-8 comes with U+FFFD in place of each bad byte sequence. A warm
/// function gets each invocation's own from [`crate::Invocation::params`].
pub fn params() -> Option<String> {
    let v = std::env::var_os(ENV_PARAMS)?;
    (!v.is_empty()).then(|| v.to_string_lossy().into_owned())
}

/// The streams of one invocation of a Lambda handler running under
/// `faasin serve`: its host offers them on the handoff socket in
/// `FAASIN_SOCKET` under the invocation's request id (the handler's
/// context carries it), good once. `(faasin, faasout)`.
pub fn streams_of(request_id: &str) -> io::Result<(Reader, Writer)> {
    let (input, output) = stream_fds_of(request_id)?;
    Ok((Reader::from_fd(input)?, Writer::from_fd(output)?))
}

/// [`streams_of`] as the two endpoint fds, for bindings that open ends
/// themselves.
pub fn stream_fds_of(request_id: &str) -> io::Result<(OwnedFd, OwnedFd)> {
    let path = std::env::var_os(handoff::ENV_SOCKET).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not set: a Lambda handler gets its streams when it runs under `faasin serve` (kind = \"lambda\")",
                handoff::ENV_SOCKET
            ),
        )
    })?;
    let s = handoff::request(path.as_ref(), request_id, Duration::from_secs(30))?;
    let missing = |what: &str| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("invocation {request_id} has no {what} stream"),
        )
    };
    Ok((
        s.input.ok_or_else(|| missing("input"))?,
        s.output.ok_or_else(|| missing("output"))?,
    ))
}

fn take(var: &str, default: RawFd, taken: &AtomicBool, is_input: bool) -> io::Result<OwnedFd> {
    let what = if is_input { "input" } else { "output" };
    if taken.swap(true, Ordering::Relaxed) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("the function's {what} stream was already taken"),
        ));
    }
    let result = take_inner(var, default, is_input, what);
    if result.is_err() {
        taken.store(false, Ordering::Relaxed);
    }
    result
}

fn take_inner(var: &str, default: RawFd, is_input: bool, what: &str) -> io::Result<OwnedFd> {
    if let Some(path) = std::env::var_os(handoff::ENV_SOCKET) {
        let mut slot = HANDOFF.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let token = std::env::var(handoff::ENV_TOKEN).unwrap_or_default();
            *slot = Some(handoff::request(
                path.as_ref(),
                &token,
                Duration::from_secs(30),
            )?);
        }
        let streams = slot.as_mut().expect("filled above");
        let fd = if is_input {
            streams.input.take()
        } else {
            streams.output.take()
        };
        return fd.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the FAASIN runner handed this function no {what} stream"),
            )
        });
    }
    let fd = match std::env::var(var) {
        Ok(v) => {
            let fd: RawFd = v.trim().parse().ok().filter(|fd| *fd >= 0).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{var}={v:?} is not an fd number"),
                )
            })?;
            if !sysfd::is_open(fd) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{var}={fd}, but fd {fd} is not open; {HOW_TO}"),
                ));
            }
            fd
        }
        Err(_) => {
            if !sysfd::is_open(default) || !crate::is_endpoint(default) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no FAASIN {what} stream: {var} is not set and fd {default} is not a FAASIN endpoint; {HOW_TO}"),
                ));
            }
            default
        }
    };
    // SAFETY: the fd is open, and the `taken` flag makes this the only
    // OwnedFd this library creates for it; by the function conventions the
    // stream fd belongs to whoever takes the stream.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
