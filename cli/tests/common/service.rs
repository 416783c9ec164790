//! A `faasin serve` started for one test, on free loopback ports, driven
//! with a real HTTP client.

use super::*;
use reqwest::blocking::{Body, Client, Response};
use std::process::Child;

pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, the invocation API.
    pub base: String,
    /// The admin API.
    pub admin: String,
    pub dir: PathBuf,
    pub client: Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

impl Served {
    /// Starts the service with `defs` (the `[[function]]` and `[[chain]]`
    /// tables) and waits until it answers. A port found free can be taken
    /// by another test's connection before the service binds it: then it
    /// starts again on other ports.
    pub fn start(tag: &str, defs: &str) -> Served {
        for _ in 0..4 {
            let mut s = Served::start_once(tag, defs);
            let t = Instant::now();
            loop {
                if s.client
                    .get(format!("{}/functions", s.admin))
                    .send()
                    .is_ok()
                {
                    return s;
                }
                if let Ok(Some(_)) = s.child.try_wait() {
                    let log = s.log();
                    assert!(
                        log.contains("Address already in use"),
                        "the service did not start: {log}"
                    );
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "the service did not start: {}",
                    s.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("the service found no free ports in four tries");
    }

    fn start_once(tag: &str, defs: &str) -> Served {
        let dir = tmpdir(&format!("serve-{tag}"));
        let (p, a) = (free_port(), free_port());
        let text = format!("listen = \"127.0.0.1:{p}\"\nadmin = \"127.0.0.1:{a}\"\n{defs}");
        let config = dir.join("platform.toml");
        std::fs::write(&config, text).unwrap();
        let child = faasin()
            .args(["serve", "-c", arg(&config)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("serve.log")).unwrap(),
            ))
            .spawn()
            .expect("spawn faasin serve");
        Served {
            child,
            base: format!("http://127.0.0.1:{p}"),
            admin: format!("http://127.0.0.1:{a}"),
            dir,
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// `POST` to the invocation API.
    pub fn post(&self, path: &str, body: impl Into<Body>) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}; log:\n{}", self.log()))
    }

    /// `POST` and read the whole response: its status, its body, and
    /// the invocation's report (complete once the body has ended).
    pub fn invoke(&self, path: &str, body: impl Into<Body>) -> (u16, Vec<u8>, serde_json::Value) {
        let r = self.post(path, body);
        let status = r.status().as_u16();
        let id = id_of(&r);
        let body = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        (status, body, self.report(&id))
    }

    /// An invocation's report, by its id.
    pub fn report(&self, id: &str) -> serde_json::Value {
        self.client
            .get(format!("{}/invocations/{id}", self.base))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` and waits (up to `limit`) for the service to exit.
    pub fn stop(&mut self, sig: i32, limit: Duration) -> ExitStatus {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.pid(), sig) };
        let mut status = None;
        wait_until(
            limit,
            || "the service did not stop".into(),
            || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            },
        );
        status.unwrap()
    }

    /// The service's open fds, and how many of them are memfds.
    pub fn fds(&self) -> (usize, usize) {
        let mut all = 0;
        let mut memfds = 0;
        for e in std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .flatten()
        {
            all += 1;
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            memfds += target.to_string_lossy().starts_with("/memfd:") as usize;
        }
        (all, memfds)
    }

    /// Peak resident memory of the service so far.
    pub fn peak_rss(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
}

/// The id of the invocation a response is from.
pub fn id_of(r: &Response) -> String {
    r.headers()["faasin-invocation-id"]
        .to_str()
        .unwrap()
        .to_string()
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `[[function]]` table: `command` is an argv.
pub fn function(name: &str, argv: &[&str], extra: &str) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[function]]\nname = \"{name}\"\ncommand = [{}]\n{extra}\n",
        argv.join(", ")
    )
}

/// A `[[chain]]` table.
pub fn chain(name: &str, functions: &[&str], extra: &str) -> String {
    let fs: Vec<String> = functions.iter().map(|f| format!("{f:?}")).collect();
    format!(
        "[[chain]]\nname = \"{name}\"\nfunctions = [{}]\n{extra}\n",
        fs.join(", ")
    )
}

/// A warm `peer` function: `peer warm MODE...`, with `marker` on its
/// command line so a test can find its processes.
pub fn peer_fn(name: &str, mode: &[&str], marker: &str, extra: &str) -> String {
    let peer = peer_bin().display().to_string();
    let mut argv = vec![peer.as_str(), "warm"];
    argv.extend_from_slice(mode);
    argv.push(marker);
    function(name, &argv, extra)
}
