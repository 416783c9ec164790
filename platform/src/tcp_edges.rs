//! Edges between nodes: a TCP stream from the node of an edge's writer to
//! the node of its reader, handed to the two functions as plain fds. The
//! reader's node grants each edge a token; a connection is accepted only
//! with a token granted here and not used yet, so no node takes a stream
//! it did not ask for. The only bytes that are not payload are the hello
//! (fixed size) and the reply `OK\n`, both read by the nodes before either
//! function gets its fd.

use faasin_runner::handoff_server::random_token;
use socket2::{SockRef, TcpKeepalive};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

const MAGIC: &[u8] = b"FAASIN-EDGE 1 ";
/// The magic, a token of 32 hex digits, and a newline.
const HELLO_LEN: usize = MAGIC.len() + 32 + 1;
const ACCEPTED: &[u8] = b"OK\n";
/// How long a peer may take to send its hello or to answer it.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// A granted edge: the stream its writer's node connects, once.
pub struct Grant {
    pub token: String,
    rx: Receiver<TcpStream>,
    grants: Arc<Grants>,
}

impl Grant {
    /// The stream, once its peer has connected, within `timeout`.
    pub fn stream(&self, timeout: Duration) -> Option<TcpStream> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.grants.lock().remove(&self.token);
    }
}

#[derive(Default)]
struct Grants {
    open: Mutex<HashMap<String, SyncSender<TcpStream>>>,
    /// Connections turned away (no hello in time, an unknown or used token).
    refused: AtomicU64,
}

impl Grants {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, SyncSender<TcpStream>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts edge streams from peers until dropped.
pub struct EdgeListener {
    /// Where peers connect.
    addr: SocketAddr,
    grants: Arc<Grants>,
    stop: Arc<AtomicBool>,
    local: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl EdgeListener {
    /// Listens on `listen`; peers are told `advertise` (default: the
    /// address listened on, which then must not be a wildcard).
    pub fn start(listen: SocketAddr, advertise: Option<IpAddr>) -> io::Result<EdgeListener> {
        let listener = TcpListener::bind(listen)?;
        let local = listener.local_addr()?;
        let ip = advertise.unwrap_or(local.ip());
        if ip.is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("peers cannot connect to {local}: give the node an `advertise` address"),
            ));
        }
        let grants = Arc::new(Grants::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("edge-listener".into())
            .spawn({
                let (grants, stop) = (Arc::clone(&grants), Arc::clone(&stop));
                move || accept_loop(&listener, &grants, &stop)
            })?;
        Ok(EdgeListener {
            addr: SocketAddr::new(ip, local.port()),
            grants,
            stop,
            local,
            thread: Some(thread),
        })
    }

    /// Where peers connect for the edges granted here.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new edge to accept once; dropping the grant withdraws it.
    pub fn grant(&self) -> Grant {
        let token = random_token();
        let (tx, rx) = mpsc::sync_channel(1);
        self.grants.lock().insert(token.clone(), tx);
        Grant {
            token,
            rx,
            grants: Arc::clone(&self.grants),
        }
    }

    /// Connections turned away so far.
    pub fn refused(&self) -> u64 {
        // Relaxed: a count for tests and logs.
        self.grants.refused.load(Ordering::Relaxed)
    }
}

impl Drop for EdgeListener {
    fn drop(&mut self) {
        // Relaxed: the accept loop reads it after the wake-up connection
        // below, which orders it.
        self.stop.store(true, Ordering::Relaxed);
        let wake = match self.local.ip().is_unspecified() {
            true => SocketAddr::new([127, 0, 0, 1].into(), self.local.port()),
            false => self.local,
        };
        let _ = TcpStream::connect_timeout(&wake, HELLO_TIMEOUT);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, grants: &Arc<Grants>, stop: &AtomicBool) {
    for conn in listener.incoming() {
        // Relaxed: see `EdgeListener::drop`.
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(conn) = conn else { continue };
        // A hello is read on a thread of its own: a peer that connects and
        // says nothing holds up nobody else.
        let grants = Arc::clone(grants);
        let spawned = std::thread::Builder::new()
            .name("edge-hello".into())
            .spawn(move || {
                if accept_one(conn, &grants).is_err() {
                    // Relaxed: a count.
                    grants.refused.fetch_add(1, Ordering::Relaxed);
                }
            });
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Reads the hello and passes the stream to its grant; Err: refused (the
/// stream is closed unanswered).
fn accept_one(mut conn: TcpStream, grants: &Grants) -> io::Result<()> {
    conn.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut hello = [0u8; HELLO_LEN];
    conn.read_exact(&mut hello)?;
    let token = parse_hello(&hello).ok_or_else(|| io::Error::other("not an edge hello"))?;
    let tx = grants
        .lock()
        .remove(token)
        .ok_or_else(|| io::Error::other("a token not granted here"))?;
    tune(&conn)?;
    // The function reads it blocking, with no timeout of ours.
    conn.set_read_timeout(None)?;
    conn.write_all(ACCEPTED)?;
    tx.try_send(conn)
        .map_err(|_| io::Error::other("grant gone"))
}

fn parse_hello(hello: &[u8; HELLO_LEN]) -> Option<&str> {
    let rest = hello.strip_prefix(MAGIC)?.strip_suffix(b"\n")?;
    let token = std::str::from_utf8(rest).ok()?;
    token
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some(token)
}

/// Connects the writer's side of an edge granted at `addr` under `token`.
pub fn connect(addr: SocketAddr, token: &str) -> io::Result<TcpStream> {
    if token.len() != 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an edge token has 32 hex digits, not {token:?}"),
        ));
    }
    let mut conn = TcpStream::connect_timeout(&addr, HELLO_TIMEOUT)?;
    tune(&conn)?;
    conn.write_all(&[MAGIC, token.as_bytes(), b"\n"].concat())?;
    conn.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut reply = [0u8; ACCEPTED.len()];
    conn.read_exact(&mut reply).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("{addr} refused the edge (a token it did not grant)"),
        ),
        _ => e,
    })?;
    if reply != ACCEPTED {
        return Err(io::Error::other(format!("{addr} answered {reply:?}")));
    }
    conn.set_read_timeout(None)?;
    Ok(conn)
}

/// No Nagle (a stream's last small write must not wait for an
/// acknowledgement), and keepalive probes, so that a peer whose host
/// vanished without closing is seen as gone instead of waited for forever.
fn tune(conn: &TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let ka = TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    SockRef::from(conn).set_tcp_keepalive(&ka)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> EdgeListener {
        EdgeListener::start("127.0.0.1:0".parse().unwrap(), None).unwrap()
    }

    #[test]
    fn a_granted_edge_carries_the_bytes_unchanged_once() {
        let l = listener();
        let g = l.grant();
        let mut w = connect(l.addr(), &g.token).unwrap();
        let mut r = g.stream(Duration::from_secs(5)).expect("accepted");
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let t = std::thread::spawn(move || {
            w.write_all(&sent).unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        t.join().unwrap();
        assert_eq!(got, payload);
        let again = connect(l.addr(), &g.token).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::ConnectionRefused, "{again}");
    }

    #[test]
    fn streams_without_a_grant_are_refused() {
        let l = listener();
        let e = connect(l.addr(), &random_token()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        // Not a hello at all: closed unanswered.
        let mut c = TcpStream::connect(l.addr()).unwrap();
        c.write_all(&[b'x'; HELLO_LEN]).unwrap();
        let mut b = [0u8; 8];
        assert_eq!(c.read(&mut b).unwrap_or(0), 0);
        // A withdrawn grant is not taken either.
        let token = l.grant().token.clone();
        assert!(connect(l.addr(), &token).is_err());
        // Counted just after the connection is closed.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while l.refused() < 3 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(l.refused(), 3);
    }

    #[test]
    fn a_wildcard_listener_needs_an_advertised_address() {
        let e = EdgeListener::start("0.0.0.0:0".parse().unwrap(), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("advertise"), "{e}");
        let l =
            EdgeListener::start("0.0.0.0:0".parse().unwrap(), Some([127, 0, 0, 1].into())).unwrap();
        assert_eq!(l.addr().ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
