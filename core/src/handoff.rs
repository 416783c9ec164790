//! Handing stream ends to functions that cannot inherit fds (containers).
//!
//! The runner listens on a unix `SOCK_SEQPACKET` socket in a directory
//! bind-mounted into the container. The function connects, sends
//! `FAASIN-HANDOFF 1\n<token>`, and receives one reply: `OK` followed by two
//! flag bytes (has input, has output) with those fds attached in that order,
//! or `NO` followed by a reason in UTF-8.

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

/// The stream ends a function receives.
#[derive(Debug, Default)]
pub struct Streams {
    pub input: Option<OwnedFd>,
    pub output: Option<OwnedFd>,
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

/// Client side: connects to `path`, presents `token`, returns the streams.
/// Gives up after `timeout` if the runner does not answer.
pub fn request(path: &Path, token: &str, timeout: Duration) -> io::Result<Streams> {
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
    set_timeout(sock.as_fd(), libc::SO_RCVTIMEO, timeout);
    set_timeout(sock.as_fd(), libc::SO_SNDTIMEO, timeout);
    let mut msg = REQUEST_PREFIX.to_vec();
    msg.extend_from_slice(token.as_bytes());
    endpoint::send_with_fds(sock.as_fd(), &msg, &[])?;
    let mut buf = [0u8; 1024];
    let (n, mut fds) = endpoint::recv_with_fds(sock.as_fd(), &mut buf, 2, 0).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {} within {timeout:?}", path.display()),
            )
        } else {
            e
        }
    })?;
    let reply = &buf[..n];
    if reply.starts_with(b"NO") {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the FAASIN runner refused the handoff: {}",
                String::from_utf8_lossy(&reply[2..])
            ),
        ));
    }
    if n != 4 || !reply.starts_with(b"OK") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed handoff reply",
        ));
    }
    let want = reply[2] as usize + reply[3] as usize;
    if reply[2] > 1 || reply[3] > 1 || fds.len() != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handoff reply carries the wrong number of fds",
        ));
    }
    let output = if reply[3] == 1 { fds.pop() } else { None };
    let input = if reply[2] == 1 { fds.pop() } else { None };
    Ok(Streams { input, output })
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
    // Fds a client might attach are closed by the kernel (no control buffer).
    let (n, _) = endpoint::recv_with_fds(conn, &mut buf, 0, 0)?;
    let msg = &buf[..n];
    let token = msg
        .strip_prefix(REQUEST_PREFIX)
        .filter(|t| t.len() <= MAX_TOKEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed handoff request"))?;
    String::from_utf8(token.to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "handoff token is not UTF-8"))
}

/// Server side: sends the streams to an accepted client.
pub fn grant(
    conn: BorrowedFd<'_>,
    input: Option<BorrowedFd<'_>>,
    output: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let fds: Vec<_> = input
        .iter()
        .chain(output.iter())
        .map(|f| f.as_raw_fd())
        .collect();
    let msg = [b'O', b'K', input.is_some() as u8, output.is_some() as u8];
    endpoint::send_with_fds(conn, &msg, &fds)
}

/// Server side: refuses a client with a reason.
pub fn refuse(conn: BorrowedFd<'_>, reason: &str) -> io::Result<()> {
    let mut msg = b"NO".to_vec();
    msg.extend_from_slice(reason.as_bytes());
    endpoint::send_with_fds(conn, &msg, &[])
}
