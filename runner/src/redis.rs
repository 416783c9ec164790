//! Just enough of the Redis protocol (RESP2) for `--transport redis`: PING,
//! SET, GET, DEL, INFO over one TCP connection, plus starting and stopping a
//! private `redis-server`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One reply.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
}

pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn connect(addr: &str) -> io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::with_capacity(256 * 1024, s.try_clone()?),
            w: s,
        })
    }

    /// Sends one command. The last argument goes out straight from the
    /// caller's buffer (a SET value may be hundreds of MiB).
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut head = format!("*{}\r\n", args.len()).into_bytes();
        let (last, rest) = args.split_last().expect("a command has a name");
        for a in rest {
            head.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            head.extend_from_slice(a);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(format!("${}\r\n", last.len()).as_bytes());
        if last.len() <= 64 * 1024 {
            head.extend_from_slice(last);
            head.extend_from_slice(b"\r\n");
            self.w.write_all(&head)?;
        } else {
            self.w.write_all(&head)?;
            self.w.write_all(last)?;
            self.w.write_all(b"\r\n")?;
        }
        self.reply()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l)?;
        if l.len() < 2 || !l.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        l.truncate(l.len() - 2);
        Ok(String::from_utf8_lossy(&l).into_owned())
    }

    fn reply(&mut self) -> io::Result<Reply> {
        let l = self.line()?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {l:?}"));
        let (kind, rest) = l.split_at(1.min(l.len()));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Err(io::Error::other(format!("redis: {rest}"))),
            ":" => rest.parse().map(Reply::Int).map_err(|_| bad()),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                let mut v = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut v)?;
                if !v.ends_with(b"\r\n") {
                    return Err(bad());
                }
                v.truncate(n as usize);
                Ok(Reply::Bulk(v))
            }
            _ => Err(bad()),
        }
    }
}

/// A `redis-server` the runner started for one chain.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `redis-server` on 127.0.0.1 at a free port, without
    /// persistence, and waits until it answers PING.
    pub fn start() -> Result<Server, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port for redis-server: {e}"))?
            .port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                "--transport redis: redis-server is not installed (apt-get install redis-server), \
                 or give a running one with --redis HOST:PORT"
                    .to_string()
            } else {
                format!("--transport redis: cannot start redis-server: {e}")
            }
        })?;
        let mut s = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!(
                    "--transport redis: redis-server exited at start ({st})"
                ));
            }
            if let Ok(Reply::Simple(p)) =
                Conn::connect(&s.addr).and_then(|mut c| c.call(&[b"PING"]))
            {
                if p == "PONG" {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "--transport redis: redis-server did not answer on {} within 10 s",
                    s.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Peak resident memory so far.
    pub fn peak_rss(&self) -> Option<u64> {
        crate::process::peak_rss(Some(self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server's own process group, which we made.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_and_garbage_are_errors() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"-ERR too big\r\n").unwrap();
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"$5\r\nhello\r\n").unwrap();
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"?what\r\n").unwrap();
        });
        let mut c = Conn::connect(&addr).unwrap();
        let e = c.call(&[b"SET", b"k", b"v"]).unwrap_err();
        assert!(e.to_string().contains("too big"), "{e}");
        assert_eq!(
            c.call(&[b"GET", b"k"]).unwrap(),
            Reply::Bulk(b"hello".to_vec())
        );
        assert!(c.call(&[b"PING"]).is_err());
        t.join().unwrap();
    }
}
