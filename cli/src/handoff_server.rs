//! The runner's side of the handoff socket: functions that cannot inherit
//! fds (containers, or processes that ask for it) connect, present their
//! token, and receive their two stream ends by `SCM_RIGHTS`.

use faasin::handoff;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// The ends waiting for one function to come and take them.
struct Pending {
    func: usize,
    input: Option<OwnedFd>,
    output: Option<OwnedFd>,
}

/// Sent to the main loop when a function took its ends.
pub struct Granted {
    pub func: usize,
    pub at: Instant,
}

pub struct Server {
    dir: PathBuf,
    socket: PathBuf,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    refused: Arc<AtomicU64>,
}

/// Directory name inside a container where the socket directory is mounted.
pub const CONTAINER_DIR: &str = "/run/faasin";
pub const SOCKET_NAME: &str = "handoff.sock";

impl Server {
    /// Listens in a fresh private directory and serves until the process
    /// exits; grants are reported on `events`.
    pub fn start(events: mpsc::Sender<Granted>) -> io::Result<Server> {
        let dir = private_dir()?;
        let socket = dir.join(SOCKET_NAME);
        let listener = handoff::listen(&socket)?;
        let pending: Arc<Mutex<HashMap<String, Pending>>> = Arc::default();
        let refused = Arc::new(AtomicU64::new(0));
        let (p, r) = (pending.clone(), refused.clone());
        std::thread::Builder::new()
            .name("handoff".into())
            .spawn(move || loop {
                let conn = match handoff::accept(listener.as_fd()) {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        eprintln!("faasin: the handoff socket stopped accepting: {e}");
                        return;
                    }
                };
                let (p, r, ev) = (p.clone(), r.clone(), events.clone());
                std::thread::spawn(move || serve(conn, &p, &r, &ev));
            })?;
        Ok(Server {
            dir,
            socket,
            pending,
            refused,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Holds `func`'s ends until a client presents the returned token.
    pub fn offer(&self, func: usize, input: Option<OwnedFd>, output: Option<OwnedFd>) -> String {
        let token = random_token();
        self.lock().insert(
            token.clone(),
            Pending {
                func,
                input,
                output,
            },
        );
        token
    }

    /// Closes the ends `func` never came for, so that its neighbours see EOF
    /// or hang-up. Returns true if there were any.
    pub fn withdraw(&self, func: usize) -> bool {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, p| p.func != func);
        map.len() != before
    }

    /// Requests refused so far (wrong or reused tokens, malformed requests).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.lock().clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serve(
    conn: OwnedFd,
    pending: &Mutex<HashMap<String, Pending>>,
    refused: &AtomicU64,
    events: &mpsc::Sender<Granted>,
) {
    let refuse = |why: &str| {
        // Relaxed: a count for the report.
        refused.fetch_add(1, Ordering::Relaxed);
        eprintln!("faasin: refused a handoff request: {why}");
        let _ = handoff::refuse(conn.as_fd(), why);
    };
    // A client that connects and then says nothing is dropped after this
    // long, without delaying the others (each connection has its own thread).
    let token = match handoff::read_request(conn.as_fd(), crate::asks::REQUEST_TIMEOUT) {
        Ok(t) => t,
        Err(e) => return refuse(&format!("bad request ({e})")),
    };
    let taken = pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&token);
    let Some(p) = taken else {
        return refuse("unknown or already used token");
    };
    if let Err(e) = handoff::grant(
        conn.as_fd(),
        p.input.as_ref().map(|f| f.as_fd()),
        p.output.as_ref().map(|f| f.as_fd()),
    ) {
        eprintln!(
            "faasin: could not hand function {} its ends: {e}",
            p.func + 1
        );
    }
    // Our copies of the ends close here: from now on only the function holds
    // them, so its exit is seen by its neighbours.
    let func = p.func;
    drop(p);
    let _ = events.send(Granted {
        func,
        at: Instant::now(),
    });
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
pub(crate) fn private_dir() -> io::Result<PathBuf> {
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
