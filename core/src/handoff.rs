//! Handing stream ends to functions that cannot inherit fds (containers).
//!
//! The runner listens on a unix `SOCK_SEQPACKET` socket in a directory
//! bind-mounted into the container. The function connects, sends
//! `FAASIN-HANDOFF 1\n<token>`, and receives one reply: `OK` followed by two
//! flag bytes (has input, has output) with those fds attached in that order,
//! or `NO` followed by a reason in UTF-8.
//!
//! The rest of an `OK` reply, if any, is the invocation's parameters: UTF-8
//! (JSON by convention), at most [`MAX_PARAMS`] bytes. A reply of exactly
//! four bytes has none, so a function that reads the parameters takes the
//! replies of a runner that sends none, and the other way round.
//!
//! A warm function (one process serving many invocations, see
//! [`crate::invocations`]) asks the same way once per invocation and may
//! get a third reply, `END`: no more invocations, exit now. It keeps the
//! connection of an invocation open while it runs and, when done, sends its
//! return value on it: messages of `V` plus a piece of the value (at most
//! [`RESULT_PIECE`] bytes in all), then `E`. A connection that closes before
//! the `E` is an invocation that broke off (the function died or dropped it).
//!
//! A runner that starts its warm functions with `FAASIN_WARM=2` also takes
//! `K` in place of the `E`: the value is complete and the function waits on
//! this same connection for its next reply (`OK` with the next streams, or
//! `END`) instead of connecting again. That saves a connection (a socket,
//! an accept and a request) per function and invocation. A function told
//! `FAASIN_WARM=1` (or an older one) sends `E` and asks anew.
//!
//! Kept streams. A function that sends `S` in place of `K` says the same,
//! and also that it can restart a kept end and that every end it keeps is
//! back, done with cleanly (see `kept` in the crate's source). A grant's
//! flag byte for an end is then one of: 0 no end, 1 an fd, 2 an fd to keep
//! after the invocation, 3 no fd: the next stream on the end kept from the
//! last invocation. Fds come in the order of the flags that carry one.

use crate::endpoint;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// Env variable naming the handoff socket.
pub const ENV_SOCKET: &str = "FAASIN_SOCKET";
/// Env variable holding the function's token.
pub const ENV_TOKEN: &str = "FAASIN_TOKEN";

const REQUEST_PREFIX: &[u8] = b"FAASIN-HANDOFF 1\n";
const MAX_TOKEN: usize = 1024;

/// The most bytes of parameters a grant carries.
pub const MAX_PARAMS: usize = 64 * 1024;

/// `OK`, has input, has output: what a grant's reply starts with.
const GRANT_HEADER: usize = 4;

/// The stream ends a function receives, and the parameters of the
/// invocation they are for.
#[derive(Debug, Default)]
pub struct Streams {
    pub input: Option<OwnedFd>,
    pub output: Option<OwnedFd>,
    /// `None` when the runner sent none (or an empty string).
    pub params: Option<String>,
    /// What the function does with its input end and its output end.
    pub reuse: [Reuse; 2],
}

/// What a warm function does with a granted end (the module
/// documentation's flag bytes 1, 2 and 3).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Opens the fd, and closes it with the stream.
    #[default]
    No,
    /// Opens the fd, and keeps it for a restart once the stream is done.
    Keep,
    /// No fd came: restarts the end kept from the last invocation.
    Restart,
}

/// One end of a grant, as the runner sends it.
#[derive(Debug, Clone, Copy)]
pub enum GrantEnd<'a> {
    None,
    Fd(BorrowedFd<'a>),
    /// An fd the function keeps for the next streams between the same two.
    Keep(BorrowedFd<'a>),
    /// The function's kept end, restarted.
    Restart,
}

impl<'a> GrantEnd<'a> {
    fn flag(self) -> u8 {
        match self {
            GrantEnd::None => 0,
            GrantEnd::Fd(_) => 1,
            GrantEnd::Keep(_) => 2,
            GrantEnd::Restart => 3,
        }
    }

    fn fd(self) -> Option<BorrowedFd<'a>> {
        match self {
            GrantEnd::Fd(fd) | GrantEnd::Keep(fd) => Some(fd),
            GrantEnd::None | GrantEnd::Restart => None,
        }
    }
}

fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unix socket path {path:?} is empty or longer than {} bytes",
                addr.sun_path.len() - 1
            ),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

fn seqpacket_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_timeout(fd: BorrowedFd<'_>, opt: libc::c_int, t: Duration) {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: tv is a valid timeval of the advertised size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
}

/// Largest message of a warm function's return value.
pub const RESULT_PIECE: usize = 32 * 1024;

/// What the runner answered a request.
enum Answer {
    Granted(Streams),
    End,
}

/// Client side: connects to `path`, presents `token`, returns the streams.
/// Gives up after `timeout` if the runner does not answer.
pub fn request(path: &Path, token: &str, timeout: Duration) -> io::Result<Streams> {
    let (sock, answer) = ask(path, token, Some(timeout))?;
    drop(sock);
    match answer {
        Answer::Granted(s) => Ok(s),
        Answer::End => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the FAASIN runner answered END (no more invocations) to a one-shot function",
        )),
    }
}

/// Client side of a warm function: asks for the next invocation's streams
/// and waits as long as the runner takes. `Ok(None)`: the runner has no more
/// invocations. The returned connection carries the invocation's return
/// value (see [`send_result`]).
pub fn request_invocation(path: &Path, token: &str) -> io::Result<Option<(Streams, OwnedFd)>> {
    let (sock, answer) = ask(path, token, None)?;
    Ok(match answer {
        Answer::Granted(s) => Some((s, sock)),
        Answer::End => None,
    })
}

/// Client side of a warm function: sends an invocation's return value on
/// its connection, then closes it.
pub fn send_result(conn: OwnedFd, value: &[u8]) -> io::Result<()> {
    send_value(conn.as_fd(), value, b"E")
}

/// Client side of a warm function whose runner keeps connections
/// (`FAASIN_WARM=2`): sends the return value ending in `K`; the next reply
/// comes on the same connection ([`next_invocation`]).
pub fn send_result_and_stay(conn: BorrowedFd<'_>, value: &[u8]) -> io::Result<()> {
    send_value(conn, value, b"K")
}

/// [`send_result_and_stay`] from a function whose kept ends are all back,
/// done with cleanly: the runner may restart them (`S`).
pub fn send_result_restartable(conn: BorrowedFd<'_>, value: &[u8]) -> io::Result<()> {
    send_value(conn, value, b"S")
}

fn send_value(conn: BorrowedFd<'_>, value: &[u8], end: &[u8]) -> io::Result<()> {
    set_timeout(conn, libc::SO_SNDTIMEO, Duration::from_secs(30));
    let mut msg = Vec::with_capacity(RESULT_PIECE);
    for piece in value.chunks(RESULT_PIECE - 1) {
        msg.clear();
        msg.push(b'V');
        msg.extend_from_slice(piece);
        endpoint::send_with_fds(conn, &msg, &[])?;
    }
    endpoint::send_with_fds(conn, end, &[])
}

/// Client side of a warm function that sent its last return value with
/// [`send_result_and_stay`]: waits on that connection for the runner's next
/// reply, as [`request_invocation`] does on a new one.
pub fn next_invocation(conn: OwnedFd) -> io::Result<Option<(Streams, OwnedFd)>> {
    // The send timeout of the return value must not cut this wait short;
    // receiving never had one on a warm connection.
    let (sock, answer) = await_answer(conn, None, None)?;
    Ok(match answer {
        Answer::Granted(s) => Some((s, sock)),
        Answer::End => None,
    })
}

fn ask(path: &Path, token: &str, timeout: Option<Duration>) -> io::Result<(OwnedFd, Answer)> {
    let (addr, len) = sockaddr(path)?;
    let sock = seqpacket_socket()?;
    // SAFETY: addr/len describe a valid sockaddr_un.
    if unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } < 0
    {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot connect to {ENV_SOCKET}={}: {e}", path.display()),
        ));
    }
    if let Some(t) = timeout {
        set_timeout(sock.as_fd(), libc::SO_RCVTIMEO, t);
        set_timeout(sock.as_fd(), libc::SO_SNDTIMEO, t);
    }
    let mut msg = REQUEST_PREFIX.to_vec();
    msg.extend_from_slice(token.as_bytes());
    endpoint::send_with_fds(sock.as_fd(), &msg, &[])?;
    await_answer(sock, timeout, Some(path))
}

/// Reads the runner's reply to a request on `sock`.
fn await_answer(
    sock: OwnedFd,
    timeout: Option<Duration>,
    path: Option<&Path>,
) -> io::Result<(OwnedFd, Answer)> {
    // One byte more than the largest grant, to tell a longer reply (cut to
    // the buffer) from one that fits.
    let mut buf = vec![0u8; GRANT_HEADER + MAX_PARAMS + 1];
    // Likewise one fd more than a grant carries: the kernel closes what
    // does not fit, and a reply with too many must not pass for a grant.
    let received = loop {
        match endpoint::recv_with_fds(sock.as_fd(), &mut buf, 3, 0) {
            // A warm function waits here between invocations, where a signal
            // it handles must not end it.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    let (n, mut fds) = received.map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer from {} within {timeout:?}",
                    path.map_or("the runner".into(), |p| p.display().to_string())
                ),
            )
        } else {
            e
        }
    })?;
    let reply = &buf[..n];
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the FAASIN runner closed the handoff connection without answering",
        ));
    }
    if reply == b"END" && fds.is_empty() {
        return Ok((sock, Answer::End));
    }
    if reply.starts_with(b"NO") {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the FAASIN runner refused the handoff: {}",
                String::from_utf8_lossy(&reply[2..])
            ),
        ));
    }
    if n < GRANT_HEADER || !reply.starts_with(b"OK") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed handoff reply",
        ));
    }
    if n - GRANT_HEADER > MAX_PARAMS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the handoff reply carries parameters over {MAX_PARAMS} bytes"),
        ));
    }
    let params = match std::str::from_utf8(&reply[GRANT_HEADER..]) {
        Ok("") => None,
        Ok(p) => Some(p.to_owned()),
        Err(e) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the invocation's parameters are not UTF-8: {e}"),
            ))
        }
    };
    let reuse = |flag: u8| match flag {
        0 | 1 => Some(Reuse::No),
        2 => Some(Reuse::Keep),
        3 => Some(Reuse::Restart),
        _ => None,
    };
    let (Some(in_reuse), Some(out_reuse)) = (reuse(reply[2]), reuse(reply[3])) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handoff reply with an unknown flag byte",
        ));
    };
    let carries = |flag: u8| flag == 1 || flag == 2;
    if fds.len() != carries(reply[2]) as usize + carries(reply[3]) as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handoff reply carries the wrong number of fds",
        ));
    }
    let output = if carries(reply[3]) { fds.pop() } else { None };
    let input = if carries(reply[2]) { fds.pop() } else { None };
    Ok((
        sock,
        Answer::Granted(Streams {
            input,
            output,
            params,
            reuse: [in_reuse, out_reuse],
        }),
    ))
}

/// Server side: a listening handoff socket at `path` (removed first if stale).
pub fn listen(path: &Path) -> io::Result<OwnedFd> {
    let (addr, len) = sockaddr(path)?;
    let _ = std::fs::remove_file(path);
    let sock = seqpacket_socket()?;
    // SAFETY: addr/len describe a valid sockaddr_un.
    if unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen on our own bound socket.
    if unsafe { libc::listen(sock.as_raw_fd(), 64) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// Server side: accepts one connection (blocking unless the listener is
/// non-blocking).
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: accept4 with null address pointers is allowed.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd from accept4.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Server side: reads the client's request and returns its token. A client
/// that sends nothing within `timeout` gets `TimedOut`.
pub fn read_request(conn: BorrowedFd<'_>, timeout: Duration) -> io::Result<String> {
    set_timeout(conn, libc::SO_RCVTIMEO, timeout);
    let mut buf = vec![0u8; REQUEST_PREFIX.len() + MAX_TOKEN + 1];
    // Fds a client might attach are closed by the kernel (no control
    // buffer). A signal the runner handles must not fail the handoff.
    let n = loop {
        match endpoint::recv_with_fds(conn, &mut buf, 0, 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?.0,
        }
    };
    let msg = &buf[..n];
    let token = msg
        .strip_prefix(REQUEST_PREFIX)
        .filter(|t| t.len() <= MAX_TOKEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed handoff request"))?;
    String::from_utf8(token.to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "handoff token is not UTF-8"))
}

/// Whether `params` can go with a grant: UTF-8 of at most [`MAX_PARAMS`]
/// bytes (`InvalidInput` otherwise, saying which).
pub fn check_params(params: &[u8]) -> io::Result<()> {
    if params.len() > MAX_PARAMS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "parameters over {MAX_PARAMS} bytes ({} bytes)",
                params.len()
            ),
        ));
    }
    std::str::from_utf8(params).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("parameters that are not UTF-8: {e}"),
        )
    })?;
    Ok(())
}

/// Server side: sends the streams to an accepted client, with the
/// invocation's `params` (empty: none). Parameters that [`check_params`]
/// refuses are not sent, and the connection stays as it was.
pub fn grant(
    conn: BorrowedFd<'_>,
    input: Option<BorrowedFd<'_>>,
    output: Option<BorrowedFd<'_>>,
    params: &[u8],
) -> io::Result<()> {
    let input = input.map_or(GrantEnd::None, GrantEnd::Fd);
    let output = output.map_or(GrantEnd::None, GrantEnd::Fd);
    grant_ends(conn, input, output, params)
}

/// [`grant`] to a warm function that said it can restart kept ends
/// ([`ReturnValue::restartable`]): each end may also be kept or restarted.
pub fn grant_ends(
    conn: BorrowedFd<'_>,
    input: GrantEnd<'_>,
    output: GrantEnd<'_>,
    params: &[u8],
) -> io::Result<()> {
    check_params(params)?;
    let fds: Vec<_> = [input.fd(), output.fd()]
        .into_iter()
        .flatten()
        .map(|f| f.as_raw_fd())
        .collect();
    let mut msg = Vec::with_capacity(GRANT_HEADER + params.len());
    msg.extend_from_slice(&[b'O', b'K', input.flag(), output.flag()]);
    msg.extend_from_slice(params);
    endpoint::send_with_fds(conn, &msg, &fds)
}

/// Server side: tells a warm function that no invocation will come.
pub fn end(conn: BorrowedFd<'_>) -> io::Result<()> {
    endpoint::send_with_fds(conn, b"END", &[])
}

/// A warm function's return value, as [`read_result`] got it.
#[derive(Debug)]
pub struct ReturnValue {
    /// The value's bytes, at most the `max` asked for.
    pub value: Vec<u8>,
    /// Whether bytes beyond `max` were dropped.
    pub cut: bool,
    /// Whether the function waits on this connection for its next reply
    /// (it ended the value with `K` or `S`; see the module documentation).
    pub stays: bool,
    /// Whether its kept ends may be restarted (it ended the value with `S`).
    pub restartable: bool,
}

/// Server side: reads a warm function's return value from its invocation's
/// connection; at most `max` bytes are kept (the rest is read and dropped;
/// `cut` says so). `UnexpectedEof`: the connection closed before the
/// function finished the invocation (it died, or dropped it).
pub fn read_result(conn: BorrowedFd<'_>, max: usize) -> io::Result<ReturnValue> {
    // An invocation takes as long as it takes (the runner has its own
    // timeout): clear the receive timeout that reading the request set.
    read_result_within(conn, max, Duration::ZERO)
}

/// [`read_result`] for a runner that calls it once the connection is
/// readable: each message of the value must come within `stall` of the
/// one before (`TimedOut` otherwise); zero waits as long as it takes.
pub fn read_result_within(
    conn: BorrowedFd<'_>,
    max: usize,
    stall: Duration,
) -> io::Result<ReturnValue> {
    set_timeout(conn, libc::SO_RCVTIMEO, stall);
    let mut kept = Vec::new();
    let mut cut = false;
    // One byte more than the largest message, to tell a longer one (cut to
    // the buffer) from one that fits.
    let mut buf = vec![0u8; RESULT_PIECE + 1];
    loop {
        let n = match endpoint::recv_with_fds(conn, &mut buf, 0, 0) {
            Ok((n, _)) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the function stopped sending its return value for {stall:?}"),
                ))
            }
            Err(e) => return Err(e),
        };
        if n > RESULT_PIECE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a return value message over {RESULT_PIECE} bytes"),
            ));
        }
        match buf[..n].split_first() {
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the function closed its invocation without finishing it",
                ))
            }
            Some((end @ (b'E' | b'K' | b'S'), [])) => {
                return Ok(ReturnValue {
                    value: kept,
                    cut,
                    stays: *end != b'E',
                    restartable: *end == b'S',
                })
            }
            Some((b'V', piece)) => {
                let room = max - kept.len();
                kept.extend_from_slice(&piece[..piece.len().min(room)]);
                cut |= piece.len() > room;
            }
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed return value message",
                ))
            }
        }
    }
}

/// Server side: refuses a client with a reason.
pub fn refuse(conn: BorrowedFd<'_>, reason: &str) -> io::Result<()> {
    let mut msg = b"NO".to_vec();
    msg.extend_from_slice(reason.as_bytes());
    endpoint::send_with_fds(conn, &msg, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request is read with a short timeout; the invocation's result may
    /// come much later, and again on the same connection when it stays.
    #[test]
    fn a_result_may_take_longer_than_the_request_timeout() {
        let dir = std::env::temp_dir().join(format!("faasin-handoff-slow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.sock");
        let listener = listen(&path).unwrap();
        let client = {
            let path = path.clone();
            std::thread::spawn(move || {
                let (_streams, conn) = request_invocation(&path, "t").unwrap().unwrap();
                std::thread::sleep(Duration::from_millis(150));
                send_result_and_stay(conn.as_fd(), b"late").unwrap();
                let (_streams, conn) = next_invocation(conn).unwrap().unwrap();
                send_result_restartable(conn.as_fd(), b"kept").unwrap();
                let (_streams, conn) = next_invocation(conn).unwrap().unwrap();
                std::thread::sleep(Duration::from_millis(150));
                send_result(conn, b"later").unwrap();
            })
        };
        let conn = accept(listener.as_fd()).unwrap();
        assert_eq!(
            read_request(conn.as_fd(), Duration::from_millis(20)).unwrap(),
            "t"
        );
        let mut results = Vec::new();
        for _ in 0..3 {
            grant(conn.as_fd(), None, None, b"").unwrap();
            let r = read_result(conn.as_fd(), 100).unwrap();
            results.push((String::from_utf8(r.value).unwrap(), r.stays, r.restartable));
        }
        let want = [
            ("late", true, false),
            ("kept", true, true),
            ("later", false, false),
        ];
        assert_eq!(results, want.map(|(v, s, k)| (v.to_string(), s, k)));
        client.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A signal that the runner handles, arriving while it waits for a
    /// request, does not fail the handoff (found by the `handoff` fuzz
    /// target, whose timer signal cut the wait short with `Interrupted`).
    #[test]
    fn a_signal_does_not_cut_the_wait_for_a_request() {
        use std::os::unix::thread::JoinHandleExt;
        extern "C" fn ignore(_: libc::c_int) {}
        // SAFETY: an all-zero sigaction with a handler that does nothing,
        // installed for a signal nothing else in this test binary uses.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        let waiter =
            std::thread::spawn(move || read_request(runner.as_fd(), Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: the thread is alive (it waits for the request below).
        let sent = unsafe { libc::pthread_kill(waiter.as_pthread_t(), libc::SIGUSR1) };
        assert_eq!(sent, 0);
        std::thread::sleep(Duration::from_millis(100));
        endpoint::send_with_fds(function.as_fd(), b"FAASIN-HANDOFF 1\ntok", &[]).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), "tok");
    }

    /// A return value's message longer than a piece is refused, not cut to
    /// the buffer with its rest lost (found by the `handoff` fuzz target).
    #[test]
    fn a_result_message_over_a_piece_is_refused() {
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        let mut piece = vec![b'v'; RESULT_PIECE + 1];
        piece[0] = b'V';
        endpoint::send_with_fds(function.as_fd(), &piece, &[]).unwrap();
        endpoint::send_with_fds(function.as_fd(), b"E", &[]).unwrap();
        let e = match read_result(runner.as_fd(), usize::MAX) {
            Ok(r) => panic!("a value of {} bytes", r.value.len()),
            Err(e) => e,
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("over 32768 bytes"), "{e}");
        // The largest piece goes through whole.
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        piece.pop();
        endpoint::send_with_fds(function.as_fd(), &piece, &[]).unwrap();
        endpoint::send_with_fds(function.as_fd(), b"E", &[]).unwrap();
        let r = read_result(runner.as_fd(), usize::MAX).unwrap();
        assert!(r.value == piece[1..] && !r.cut, "{} bytes", r.value.len());
    }

    /// What a function makes of the runner's reply: a connected pair, the
    /// runner's end handed to `send`, the function's end read as a reply.
    fn answer_to(send: impl FnOnce(BorrowedFd<'_>)) -> io::Result<Streams> {
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        send(runner.as_fd());
        match await_answer(function, Some(Duration::from_secs(5)), None)? {
            (_, Answer::Granted(s)) => Ok(s),
            (_, Answer::End) => panic!("END"),
        }
    }

    #[test]
    fn parameters_go_with_the_streams() {
        let largest = "ü".repeat(MAX_PARAMS / 2);
        for params in ["{\"query\": {\"q\": \"ä b\"}}", &largest] {
            let (r, w) = crate::pipe_fds(4096).unwrap();
            let s = answer_to(|conn| {
                grant(conn, Some(r.as_fd()), Some(w.as_fd()), params.as_bytes()).unwrap()
            })
            .unwrap();
            assert!(s.input.is_some() && s.output.is_some());
            assert_eq!(s.params.as_deref(), Some(params));
        }
        let s = answer_to(|conn| grant(conn, None, None, b"{}").unwrap()).unwrap();
        assert!(s.input.is_none() && s.output.is_none());
        assert_eq!(s.params.as_deref(), Some("{}"));
    }

    /// No parameters: the four bytes of a reply from before there were any.
    #[test]
    fn a_grant_without_parameters_is_the_four_byte_reply() {
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        let (r, _w) = crate::pipe_fds(4096).unwrap();
        grant(runner.as_fd(), Some(r.as_fd()), None, b"").unwrap();
        let mut buf = [0u8; 64];
        let (n, fds) = endpoint::recv_with_fds(function.as_fd(), &mut buf, 2, 0).unwrap();
        assert_eq!(&buf[..n], b"OK\x01\x00");
        assert_eq!(fds.len(), 1);
        let s = answer_to(|conn| {
            endpoint::send_with_fds(conn, b"OK\x00\x01", &[r.as_raw_fd()]).unwrap()
        })
        .unwrap();
        assert!(s.input.is_none() && s.output.is_some());
        assert_eq!(s.params, None);
    }

    /// Ends to keep and ends to restart: the flag bytes say which, and only
    /// the ends that carry an fd take one; an unknown flag is refused.
    #[test]
    fn a_grant_keeps_or_restarts_ends() {
        let (r, _w) = crate::pipe_fds(4096).unwrap();
        let s = answer_to(|conn| {
            grant_ends(conn, GrantEnd::Restart, GrantEnd::Keep(r.as_fd()), b"p").unwrap()
        })
        .unwrap();
        assert!(s.input.is_none() && s.output.is_some());
        assert_eq!(s.reuse, [Reuse::Restart, Reuse::Keep]);
        let s = answer_to(|conn| {
            grant_ends(conn, GrantEnd::Fd(r.as_fd()), GrantEnd::Restart, b"").unwrap()
        })
        .unwrap();
        assert!(s.input.is_some() && s.output.is_none());
        assert_eq!(s.reuse, [Reuse::No, Reuse::Restart]);
        // A restart carries no fd: one more is a malformed grant.
        let e = answer_to(|conn| {
            endpoint::send_with_fds(conn, b"OK\x03\x00", &[r.as_raw_fd()]).unwrap()
        })
        .unwrap_err();
        assert!(e.to_string().contains("wrong number of fds"), "{e}");
        let e = answer_to(|conn| endpoint::send_with_fds(conn, b"OK\x04\x00", &[]).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("unknown flag byte"), "{e}");
    }

    /// A reply with more fds than its flags say is refused, however many
    /// (found by the `handoff` fuzz target: the kernel dropped the fds past
    /// the two a grant carries, and the rest passed for a grant).
    #[test]
    fn a_grant_with_extra_fds_is_refused() {
        let (r, w) = crate::pipe_fds(4096).unwrap();
        let (r, w) = (r.as_raw_fd(), w.as_raw_fd());
        for fds in [&[r, w, r][..], &[r, w, r, w], &[r]] {
            let e = answer_to(|conn| endpoint::send_with_fds(conn, b"OK\x01\x01", fds).unwrap())
                .unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::InvalidData,
                "{} fds: {e}",
                fds.len()
            );
            assert!(e.to_string().contains("wrong number of fds"), "{e}");
        }
    }

    #[test]
    fn parameters_too_long_or_not_utf8_are_refused_by_both_sides() {
        let (runner, function) = endpoint::seqpacket_pair().unwrap();
        let long = vec![b'x'; MAX_PARAMS + 1];
        let e = grant(runner.as_fd(), None, None, &long).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains(&format!("parameters over {MAX_PARAMS} bytes")),
            "{e}"
        );
        let e = grant(runner.as_fd(), None, None, b"\xff{}").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        // Nothing was sent: the next grant is the first reply.
        grant(runner.as_fd(), None, None, b"p").unwrap();
        let s = await_answer(function, Some(Duration::from_secs(5)), None).unwrap();
        assert!(matches!(s.1, Answer::Granted(Streams { params: Some(p), .. }) if p == "p"));

        // A runner that sends them anyway.
        let mut reply = b"OK\x00\x00".to_vec();
        reply.extend_from_slice(&long);
        let e = answer_to(|conn| endpoint::send_with_fds(conn, &reply, &[]).unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("over 65536 bytes"), "{e}");
        let e = answer_to(|conn| endpoint::send_with_fds(conn, b"OK\x00\x00\xc3(", &[]).unwrap())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
