//! Two `faasin serve` nodes, "a" and "b", each in a network namespace of
//! its own that the test creates, joined by a veth pair: an edge between
//! them really crosses a network. Clients run in a's namespace (curl, a
//! real HTTP client). Dropped, it stops every process it started and
//! deletes the namespaces; [`Nodes::finish`] also checks that nothing is
//! left in them.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const NODE_NAMES: [&str; 2] = ["a", "b"];
const IPS: [&str; 2] = ["10.213.0.1", "10.213.0.2"];

pub struct Nodes {
    pub netns: [String; 2],
    serves: [Option<Child>; 2],
    pub dir: PathBuf,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {} (these tests need root and iproute2)",
        args.join(" "),
        stderr(&out)
    );
}

/// The inode of a network namespace, which its processes' /proc/PID/ns/net
/// point to.
fn netns_inode(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Processes whose network namespace has inode `ino`.
fn processes_in(ino: u64) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(link) = std::fs::read_link(e.path().join("ns/net")) else {
            continue;
        };
        if link.to_string_lossy() == format!("net:[{ino}]") {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    found
}

impl Nodes {
    /// Both nodes with the same `defs` (functions and chains), each knowing
    /// the other as its peer; b has the label `zone=west`.
    pub fn start(tag: &str, defs: &str) -> Nodes {
        static N: AtomicUsize = AtomicUsize::new(0);
        let k = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{k}", std::process::id());
        let netns = [format!("faasin-t{id}a"), format!("faasin-t{id}b")];
        let veth = [format!("fv{id}a"), format!("fv{id}b")];
        let dir = tmpdir(&format!("nodes-{tag}"));
        let mut nodes = Nodes {
            netns: netns.clone(),
            serves: [None, None],
            dir,
        };
        for ns in &netns {
            ip(&["netns", "add", ns]);
        }
        ip(&[
            "link", "add", &veth[0], "type", "veth", "peer", "name", &veth[1],
        ]);
        for i in 0..2 {
            ip(&["link", "set", &veth[i], "netns", &netns[i]]);
            let cidr = format!("{}/30", IPS[i]);
            ip(&["-n", &netns[i], "addr", "add", &cidr, "dev", &veth[i]]);
            ip(&["-n", &netns[i], "link", "set", &veth[i], "up"]);
            ip(&["-n", &netns[i], "link", "set", "lo", "up"]);
        }
        for (me, ns) in netns.iter().enumerate() {
            let other = 1 - me;
            let labels = ["", "labels = { zone = \"west\" }\n"];
            let text = format!(
                "listen = \"127.0.0.1:8080\"\nadmin = \"127.0.0.1:8081\"\ndrain = 1\n{defs}\n\
                 [node]\nname = \"{}\"\n{}peer_listen = \"{ip}:9101\"\nedge_listen = \"{ip}:9100\"\n\
                 [[node.peer]]\nname = \"{}\"\nurl = \"http://{}:9101\"\n{}",
                NODE_NAMES[me],
                labels[me],
                NODE_NAMES[other],
                IPS[other],
                labels[other],
                ip = IPS[me],
            );
            let config = nodes.dir.join(format!("{}.toml", NODE_NAMES[me]));
            std::fs::write(&config, text).unwrap();
            let log = std::fs::File::create(nodes.log_path(me)).unwrap();
            let child = Command::new("nsenter")
                .arg(format!("--net=/run/netns/{ns}"))
                .arg(faasin_bin())
                .args(["serve", "-c", arg(&config)])
                .env("PATH", path_env())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn nsenter faasin serve");
            nodes.serves[me] = Some(child);
        }
        for (i, name) in NODE_NAMES.iter().enumerate() {
            wait_until(
                Duration::from_secs(20),
                || format!("node {name} did not start: {}", nodes.log(i)),
                || {
                    nodes
                        .curl_in(
                            i,
                            &["-sf", "-o", "/dev/null", "http://127.0.0.1:8081/functions"],
                        )
                        .status
                        .success()
                },
            );
        }
        nodes
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.log", NODE_NAMES[i]))
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// `curl ARGS` in node `i`'s namespace.
    pub fn curl_in(&self, i: usize, args: &[&str]) -> Output {
        self.curl_cmd(i, args).output().expect("run curl")
    }

    pub fn curl_cmd(&self, i: usize, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns[i]))
            .args(["timeout", "-s", "KILL", "120", "curl"])
            .args(args);
        c
    }

    /// curl in node a that POSTs the file `body` to its invocation API at
    /// `path`, the response's headers to `hdr` and its body to `out`.
    pub fn upload(&self, path: &str, body: &Path, hdr: &Path, out: &Path) -> Command {
        let url = format!("http://127.0.0.1:8080{path}");
        let data = format!("@{}", body.display());
        let args = ["-sS", "-H", "Expect:", "-D", arg(hdr), "-o", arg(out)];
        let mut c = self.curl_cmd(0, &args);
        c.args(["--data-binary", &data, &url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// POSTs the file `body` to node a's invocation API at `path`: the
    /// response's status, its body and the invocation's id.
    pub fn invoke(&self, path: &str, body: &Path) -> (u16, Vec<u8>, String) {
        let (hdr, out) = (self.dir.join("headers"), self.dir.join("out"));
        let o = self
            .upload(path, body, &hdr, &out)
            .output()
            .expect("run curl");
        assert!(
            o.status.success(),
            "curl: {}; a: {}",
            stderr(&o),
            self.log(0)
        );
        let (status, id) = parse_headers(&std::fs::read_to_string(&hdr).unwrap());
        (status, std::fs::read(&out).unwrap(), id)
    }

    /// An invocation's report from node a.
    pub fn report(&self, id: &str) -> serde_json::Value {
        let url = format!("http://127.0.0.1:8080/invocations/{id}");
        let o = self.curl_in(0, &["-sS", &url]);
        serde_json::from_slice(&o.stdout).expect("a report")
    }

    /// SIGKILLs node `i`'s service, as a node that dies.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.serves[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops both services (SIGTERM), checks that no process is left in
    /// either namespace, and deletes them.
    pub fn finish(mut self) {
        let inodes: Vec<Option<u64>> = (self.netns.iter())
            .map(|ns| netns_inode(&format!("/run/netns/{ns}")))
            .collect();
        self.stop_services();
        for (ns, ino) in self.netns.iter().zip(inodes) {
            let ino = ino.expect("the namespace exists");
            let until = Instant::now() + Duration::from_secs(15);
            let mut left = processes_in(ino);
            while !left.is_empty() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
                left = processes_in(ino);
            }
            assert!(left.is_empty(), "left in {ns}: {left:?}");
        }
        self.delete_netns();
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        let list = String::from_utf8_lossy(&list.stdout);
        for ns in &self.netns {
            assert!(!list.contains(ns.as_str()), "{ns} is still there");
        }
    }

    fn stop_services(&mut self) {
        for c in self.serves.iter_mut().flatten() {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for c in self.serves.iter_mut() {
            if let Some(mut child) = c.take() {
                let until = Instant::now() + Duration::from_secs(20);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn delete_netns(&self) {
        for ns in &self.netns {
            // Deleting a namespace deletes its end of the veth pair, and
            // with it the other end.
            if Path::new("/run/netns").join(ns).exists() {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop_services();
        self.delete_netns();
    }
}

/// The status and the invocation id of a response's headers.
fn parse_headers(text: &str) -> (u16, String) {
    let status = (text.lines().next())
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let id = (text.lines())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("faasin-invocation-id")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, id)
}
