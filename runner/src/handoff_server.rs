//! The runner's side of the handoff socket. A function that cannot inherit
//! fds (a container, or a process that asks for it) connects, presents its
//! token, and either takes the stream ends offered to it (one-shot runs), or
//! is a warm instance whose connection is passed on: the engine grants it an
//! invocation's ends on it and reads the return value back
//! (`faasin::handoff`).
//!
//! One thread serves every connection with `poll(2)`: a request is read once
//! its connection is readable, so a client that connects and sends nothing
//! holds up nobody (it is refused after [`REQUEST_TIMEOUT`]), and a warm
//! invocation does not pay for a thread start per connection.

use crate::events::{poll_readable, Bell};
use faasin::handoff;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Directory name inside a container where the socket directory is mounted.
pub const CONTAINER_DIR: &str = "/run/faasin";
pub const SOCKET_NAME: &str = "handoff.sock";
/// How long a connection may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a token stands for.
enum Entry {
    /// Ends waiting for one function; the token is good once.
    Offer {
        input: Option<OwnedFd>,
        output: Option<OwnedFd>,
        on_taken: Box<dyn FnOnce(Instant) + Send>,
    },
    /// A warm instance: each of its connections is passed on.
    Instance(Arc<dyn Fn(OwnedFd) + Send + Sync>),
}

#[derive(Default)]
struct Shared {
    entries: Mutex<HashMap<String, Entry>>,
    /// Requests refused so far (wrong or reused tokens, malformed requests).
    refused: AtomicU64,
}

impl Shared {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct HandoffServer {
    dir: PathBuf,
    /// Made for this server (removed with it), or given (only the socket
    /// goes).
    own_dir: bool,
    socket: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<Bell>,
    thread: Option<JoinHandle<()>>,
}

impl HandoffServer {
    /// Listens in a fresh private directory until dropped.
    pub fn start() -> io::Result<HandoffServer> {
        Self::listen_in(private_dir()?, true)
    }

    /// Listens in `dir` (made if missing), where instances that others
    /// start can reach the socket: a directory shared with Kubernetes pods,
    /// say. A socket already there is replaced.
    pub fn start_in(dir: &Path) -> io::Result<HandoffServer> {
        std::fs::create_dir_all(dir)?;
        Self::listen_in(dir.to_path_buf(), false)
    }

    fn listen_in(dir: PathBuf, own_dir: bool) -> io::Result<HandoffServer> {
        use std::os::unix::fs::PermissionsExt;
        let socket = dir.join(SOCKET_NAME);
        let listener = handoff::listen(&socket)?;
        if !own_dir {
            // Whoever may enter the shared directory may connect (a pod
            // need not run as root); the tokens decide what it gets.
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
        }
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(Bell::new()?);
        let thread = std::thread::Builder::new().name("handoff".into()).spawn({
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            move || serve(&listener, &shared, &stop, REQUEST_TIMEOUT)
        })?;
        Ok(HandoffServer {
            dir,
            own_dir,
            socket,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's directory (bind-mounted into containers).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Holds a function's ends until a client presents the returned token;
    /// `on_taken` is called when it has them.
    pub fn offer(
        &self,
        input: Option<OwnedFd>,
        output: Option<OwnedFd>,
        on_taken: impl FnOnce(Instant) + Send + 'static,
    ) -> String {
        let on_taken = Box::new(on_taken);
        self.insert(Entry::Offer {
            input,
            output,
            on_taken,
        })
    }

    /// A token for a warm instance: every connection that presents it is
    /// handed to `deliver`.
    pub fn register(&self, deliver: impl Fn(OwnedFd) + Send + Sync + 'static) -> String {
        self.insert(Entry::Instance(Arc::new(deliver)))
    }

    /// Like [`HandoffServer::register`], under a token its owner chose (a
    /// function's join token, which instances started by others present).
    /// False if the token is taken.
    pub fn register_as(
        &self,
        token: &str,
        deliver: impl Fn(OwnedFd) + Send + Sync + 'static,
    ) -> bool {
        let mut entries = self.shared.entries();
        if entries.contains_key(token) {
            return false;
        }
        entries.insert(token.to_string(), Entry::Instance(Arc::new(deliver)));
        true
    }

    fn insert(&self, entry: Entry) -> String {
        let token = random_token();
        self.shared.entries().insert(token.clone(), entry);
        token
    }

    /// Forgets a token; ends still offered under it close, so that the
    /// function's neighbours see EOF or hang-up. True if it was still there.
    pub fn withdraw(&self, token: &str) -> bool {
        self.shared.entries().remove(token).is_some()
    }

    pub fn refused(&self) -> u64 {
        // Relaxed: a count for the report.
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl Drop for HandoffServer {
    fn drop(&mut self) {
        self.stop.ring();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.entries().clear();
        if self.own_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// Accepts connections and answers their requests until `stop` rings or
/// the listener fails. A connection without a request after `patience` is
/// refused.
fn serve(listener: &OwnedFd, shared: &Shared, stop: &Bell, patience: Duration) {
    // Accepted connections whose request has not arrived yet.
    let mut pending: Vec<(OwnedFd, Instant)> = Vec::new();
    loop {
        let fds: Vec<BorrowedFd<'_>> = [stop.fd(), listener.as_fd()]
            .into_iter()
            .chain(pending.iter().map(|(c, _)| c.as_fd()))
            .collect();
        let timeout = pending
            .iter()
            .map(|(_, by)| by.saturating_duration_since(Instant::now()))
            .min();
        let Ok(ready) = poll_readable(&fds, timeout) else {
            return;
        };
        drop(fds);
        if ready[0] {
            return;
        }
        let now = Instant::now();
        // From the back: swap_remove(k) moves an entry already looked at.
        for k in (0..pending.len()).rev() {
            if ready[k + 2] || now >= pending[k].1 {
                let (conn, _) = pending.swap_remove(k);
                answer(conn, ready[k + 2], shared);
            }
        }
        // One connection per wake-up: readable means one is queued, so the
        // accept does not block (a unix socket's queued connection stays
        // even if its client hung up), and poll says so again while more
        // are. A failed accept (fds exhausted) leaves the listener usable.
        if ready[1] {
            match handoff::accept(listener.as_fd()) {
                Ok(c) => pending.push((c, now + patience)),
                // The listener itself is broken: nothing more will come.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBADF | libc::EINVAL)) => return,
                Err(_) => {}
            }
        }
    }
}

/// Reads the request of a connection (`readable`: it is there, or a
/// hang-up; else its time is up) and does what its token stands for.
fn answer(conn: OwnedFd, readable: bool, shared: &Shared) {
    let refuse = |why: String| {
        // Relaxed: a count for the report.
        shared.refused.fetch_add(1, Ordering::Relaxed);
        eprintln!("faasin: refused a handoff request: {why}");
        let _ = handoff::refuse(conn.as_fd(), &why);
    };
    if !readable {
        return refuse("no request in time".into());
    }
    // The request is one SEQPACKET message; the timeout only bounds a
    // spurious wake-up.
    let token = match handoff::read_request(conn.as_fd(), Duration::from_millis(10)) {
        Ok(t) => t,
        Err(e) => return refuse(format!("bad request ({e})")),
    };
    let mut entries = shared.entries();
    let entry = match entries.get(&token) {
        Some(Entry::Instance(deliver)) => Entry::Instance(Arc::clone(deliver)),
        Some(Entry::Offer { .. }) => entries.remove(&token).expect("just seen"),
        None => {
            drop(entries);
            return refuse("unknown or already used token".into());
        }
    };
    drop(entries);
    match entry {
        Entry::Instance(deliver) => deliver(conn),
        Entry::Offer {
            input,
            output,
            on_taken,
        } => {
            let (i, o) = (input.as_ref(), output.as_ref());
            // A one-shot function takes its parameters from its env.
            let granted = handoff::grant(
                conn.as_fd(),
                i.map(|f| f.as_fd()),
                o.map(|f| f.as_fd()),
                b"",
            );
            if let Err(e) = granted {
                eprintln!("faasin: could not hand a function its ends: {e}");
            }
            // Our copies of the ends close here: from now on only the
            // function holds them, so its exit is seen by its neighbours.
            drop((input, output));
            on_taken(Instant::now());
        }
    }
}

/// 128 random bits in hex.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // SAFETY: getrandom writes at most b.len() bytes into b.
        let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        assert_eq!(n, b.len() as isize, "no randomness for handoff tokens");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new directory only we can enter (mode 0700).
fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!("faasin-{}", &random_token()[..12]));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("cannot create a private temp directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// One thread answers every request, in whatever order they come; a
    /// silent client does not hold up the others, and bad requests are
    /// refused with the reason.
    #[test]
    fn requests_are_matched_refused_and_never_block_each_other() {
        let server = HandoffServer::start().unwrap();
        let (tx, rx) = mpsc::channel::<(usize, OwnedFd)>();
        let tokens: Vec<String> = (0..2)
            .map(|i| {
                let tx = Mutex::new(tx.clone());
                server.register(move |conn| {
                    let _ = tx.lock().unwrap().send((i, conn));
                })
            })
            .collect();
        let path = server.socket().to_path_buf();
        // Connected first and silent: must not delay the ones after it.
        let silent = raw_connect(&path);
        for round in 0..50 {
            let clients: Vec<_> = tokens
                .iter()
                .map(|t| {
                    let (path, t) = (path.clone(), t.clone());
                    std::thread::spawn(move || handoff::request_invocation(&path, &t))
                })
                .collect();
            let mut got = [false; 2];
            for _ in 0..2 {
                let (i, conn) = rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("an answer within 5 s");
                assert!(!got[i], "round {round}: instance {i} twice");
                got[i] = true;
                // The connection handed on is the client's: an END on it
                // arrives there.
                handoff::end(conn.as_fd()).unwrap();
            }
            for c in clients {
                assert!(c.join().unwrap().unwrap().is_none(), "round {round}");
            }
        }
        let e = handoff::request(&path, "tok-x", Duration::from_secs(5)).unwrap_err();
        assert!(
            e.to_string().contains("unknown or already used token"),
            "{e}"
        );
        assert_eq!(server.refused(), 1);
        drop(silent);
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.refused() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            server.refused(),
            2,
            "a hang-up without a request is refused"
        );
    }

    /// Offered ends go to the first client with the token, once; withdrawn
    /// ones to nobody.
    #[test]
    fn offers_are_taken_once_and_withdrawn_ones_close() {
        let server = HandoffServer::start().unwrap();
        let (r, w) = crate::transport::os_pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        let token = server.offer(Some(r), None, move |at| {
            let _ = tx.send(at);
        });
        let s = handoff::request(server.socket(), &token, Duration::from_secs(5)).unwrap();
        assert!(s.input.is_some() && s.output.is_none());
        rx.recv_timeout(Duration::from_secs(5)).expect("taken");
        assert!(handoff::request(server.socket(), &token, Duration::from_secs(5)).is_err());
        assert!(!server.withdraw(&token), "a taken offer is gone");
        let (r2, w2) = crate::transport::os_pipe().unwrap();
        let token2 = server.offer(Some(r2), None, |_| {});
        assert!(server.withdraw(&token2));
        // The offered read end is closed: writing to its pipe fails.
        let mut w2 = std::fs::File::from(w2);
        assert!(std::io::Write::write(&mut w2, b"x").is_err());
        drop(w);
        let dir = server.dir().to_path_buf();
        drop(server);
        assert!(!dir.exists(), "the socket's directory goes with the server");
    }

    /// A server in a given directory takes a chosen token once, hands every
    /// connection presenting it on, and leaves the directory (without its
    /// socket) when it goes.
    #[test]
    fn a_given_directory_and_a_chosen_token() {
        let dir = std::env::temp_dir().join(format!("faasin-given-{}", random_token()));
        let server = HandoffServer::start_in(&dir).unwrap();
        let (tx, rx) = mpsc::channel::<OwnedFd>();
        let tx = Mutex::new(tx);
        assert!(server.register_as("secret/f", move |c| {
            let _ = tx.lock().unwrap().send(c);
        }));
        assert!(!server.register_as("secret/f", |_| {}), "taken");
        for _ in 0..2 {
            let socket = server.socket().to_path_buf();
            let asking =
                std::thread::spawn(move || handoff::request_invocation(&socket, "secret/f"));
            let conn = rx.recv_timeout(Duration::from_secs(5)).expect("handed on");
            handoff::end(conn.as_fd()).unwrap();
            assert!(asking.join().unwrap().unwrap().is_none(), "END reached it");
        }
        drop(server);
        assert!(dir.is_dir(), "a given directory stays");
        assert!(!dir.join(SOCKET_NAME).exists(), "its socket goes");
        std::fs::remove_dir(&dir).unwrap();
    }

    fn raw_connect(path: &Path) -> OwnedFd {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: plain socket(2) call.
        let fd =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: fresh fd from socket(2), owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_un.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
            *d = *s as libc::c_char;
        }
        // SAFETY: addr is a valid sockaddr_un; the length covers it.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
        fd
    }
}
