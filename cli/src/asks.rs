//! The warm runner's listener: a warm function connects to the handoff
//! socket and sends its token; this thread matches it to a function and
//! passes the connection on. A function connects once, and again only when
//! its connection was not kept (it was started with `FAASIN_WARM=1`, is
//! older than `FAASIN_WARM=2`, or broke off an invocation): the runner's
//! main thread then takes the next request on the connection that carried
//! the return value (`faasin::handoff`).
//!
//! One thread serves every connection with `poll(2)`: a request is read
//! once its connection is readable, so a client that connects and sends
//! nothing holds up nobody (it is refused after a while, [`REQUEST_TIMEOUT`]
//! in the runner). The
//! first version started a thread per connection, which was most of the
//! runner's CPU time per warm invocation (`perf`: `clone3` and the new
//! thread's stack mappings), on a machine where the functions need the two
//! CPUs.

use faasin::handoff;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long a connection may take to send its request (the one-shot
/// handoff server's too).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of one connection's request.
pub enum Request {
    /// Function `i` (whose token it sent) asks; the connection carries its
    /// invocation.
    Asked(usize, OwnedFd),
    /// Refused (and told why): an unknown token, a malformed request, or
    /// none in time.
    Refused(String),
}

/// Accepts connections on `listener` and reads their requests until the
/// listener fails or `deliver` returns false (nobody listens any more). A
/// connection without a request after `patience` is refused.
pub fn serve(
    listener: OwnedFd,
    tokens: &[String],
    patience: Duration,
    mut deliver: impl FnMut(Request) -> bool,
) {
    // Accepted connections whose request has not arrived yet.
    let mut pending: Vec<(OwnedFd, Instant)> = Vec::new();
    loop {
        let mut fds: Vec<libc::pollfd> = std::iter::once(&listener)
            .chain(pending.iter().map(|(c, _)| c))
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let timeout_ms = pending
            .iter()
            .map(|(_, by)| by.saturating_duration_since(Instant::now()))
            .min()
            .map_or(-1, |d| d.as_millis().min(i32::MAX as u128 - 1) as i32 + 1);
        // SAFETY: `fds` is a valid array of fds.len() pollfds that outlives
        // the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let now = Instant::now();
        // From the back: swap_remove(k) moves an entry already looked at.
        for k in (0..pending.len()).rev() {
            let ready = fds[k + 1].revents != 0;
            if !ready && now < pending[k].1 {
                continue;
            }
            let (conn, _) = pending.swap_remove(k);
            let request = if ready {
                answer(conn, tokens)
            } else {
                let why = "no request in time".to_string();
                let _ = handoff::refuse(conn.as_fd(), &why);
                Request::Refused(why)
            };
            if !deliver(request) {
                return;
            }
        }
        let lr = fds[0].revents;
        if lr & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return;
        }
        // One connection per wake-up: readable means one is queued, so the
        // accept does not block (a unix socket's queued connection stays
        // even if its client hung up), and poll says so again while more
        // are. A failed accept (fds exhausted) leaves the listener usable.
        if lr & libc::POLLIN != 0 {
            if let Ok(c) = handoff::accept(listener.as_fd()) {
                pending.push((c, now + patience));
            }
        }
    }
}

/// Reads the request of a readable connection and matches its token.
fn answer(conn: OwnedFd, tokens: &[String]) -> Request {
    // Readable: the request (one SEQPACKET message) or the hang-up is there;
    // the timeout only bounds a spurious wake-up.
    match handoff::read_request(conn.as_fd(), Duration::from_millis(10)) {
        Ok(t) => match tokens.iter().position(|x| *x == t) {
            Some(i) => Request::Asked(i, conn),
            None => {
                let why = "unknown token".to_string();
                let _ = handoff::refuse(conn.as_fd(), &why);
                Request::Refused(why)
            }
        },
        Err(e) => {
            let why = format!("bad request ({e})");
            let _ = handoff::refuse(conn.as_fd(), &why);
            Request::Refused(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn connect(path: &std::path::Path) -> OwnedFd {
        // A SEQPACKET client, as handoff's functions connect.
        // SAFETY: plain socket(2) call.
        let fd =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: fresh fd from socket(2).
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let (addr, len) = sockaddr(path);
        // SAFETY: addr is a valid sockaddr_un of length len.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
        fd
    }

    fn sockaddr(path: &std::path::Path) -> (libc::sockaddr_un, libc::socklen_t) {
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: all-zero is a valid sockaddr_un.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + path.as_os_str().len() + 1;
        (addr, len as libc::socklen_t)
    }

    fn send(fd: &OwnedFd, msg: &[u8]) {
        // SAFETY: msg is valid for msg.len() bytes.
        let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        assert_eq!(n, msg.len() as isize);
    }

    fn reply(fd: &OwnedFd) -> Vec<u8> {
        let mut buf = [0u8; 256];
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n >= 0);
        buf[..n as usize].to_vec()
    }

    /// One thread answers every request, in whatever order they come; a
    /// silent client does not hold up the others, and bad requests are
    /// refused with the reason.
    #[test]
    fn requests_are_matched_refused_and_never_block_each_other() {
        let dir = std::env::temp_dir().join(format!("faasin-asks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.sock");
        let _ = std::fs::remove_file(&path);
        let listener = handoff::listen(&path).unwrap();
        let tokens: Vec<String> = vec!["tok-a".into(), "tok-b".into()];
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            serve(listener, &tokens, Duration::from_secs(2), |r| {
                tx.send(r).is_ok()
            })
        });

        // Connected first and silent: must not delay the ones after it.
        let silent = connect(&path);
        let mut clients = Vec::new();
        for round in 0..50 {
            let b = connect(&path);
            let a = connect(&path);
            send(&a, b"FAASIN-HANDOFF 1\ntok-a");
            send(&b, b"FAASIN-HANDOFF 1\ntok-b");
            let mut got = [false; 2];
            for _ in 0..2 {
                match rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("an answer within 5 s")
                {
                    Request::Asked(i, conn) => {
                        assert!(!got[i], "round {round}: function {i} twice");
                        got[i] = true;
                        // The connection handed on is the client's: a
                        // message on it arrives there.
                        handoff::end(conn.as_fd()).unwrap();
                    }
                    Request::Refused(why) => panic!("round {round}: refused: {why}"),
                }
            }
            assert_eq!(reply(&a), b"END");
            assert_eq!(reply(&b), b"END");
            clients.push((a, b));
        }

        let bad = connect(&path);
        send(&bad, b"FAASIN-HANDOFF 1\ntok-x");
        match rx.recv_timeout(Duration::from_secs(5)).expect("an answer") {
            Request::Refused(why) => assert!(why.contains("unknown token"), "{why}"),
            Request::Asked(i, _) => panic!("a wrong token was taken for function {i}"),
        }
        assert!(reply(&bad).starts_with(b"NOunknown token"));

        let garbled = connect(&path);
        send(&garbled, b"GET / HTTP/1.0");
        match rx.recv_timeout(Duration::from_secs(5)).expect("an answer") {
            Request::Refused(why) => assert!(why.contains("bad request"), "{why}"),
            Request::Asked(i, _) => panic!("a malformed request was taken for function {i}"),
        }

        // A client that hangs up without a request is refused, not kept.
        drop(silent);
        match rx.recv_timeout(Duration::from_secs(5)).expect("an answer") {
            Request::Refused(why) => assert!(why.contains("bad request"), "{why}"),
            Request::Asked(i, _) => panic!("a hang-up was taken for function {i}"),
        }
        // One that stays silent is refused once its time is up.
        let slow = connect(&path);
        match rx.recv_timeout(Duration::from_secs(5)).expect("an answer") {
            Request::Refused(why) => assert!(why.contains("no request in time"), "{why}"),
            Request::Asked(i, _) => panic!("a silent client was taken for function {i}"),
        }
        assert!(reply(&slow).starts_with(b"NOno request in time"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
