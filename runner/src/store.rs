//! Where the stored transports keep each function's whole output: Redis
//! (SET/GET under a per-run prefix), a file per edge (on tmpfs by default),
//! or the runner's own memory. Nothing is left behind: [`Store::clear`]
//! removes what a run stored.

use crate::options::SetupError;
use crate::redis::{self, Conn, Reply};
use crate::transport::Transport;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub enum Store {
    Redis {
        addr: String,
        /// Ours to stop when the last scope of the store is gone; `None`
        /// for a Redis given to us.
        server: Option<Arc<redis::Server>>,
        prefix: String,
    },
    File {
        dir: PathBuf,
    },
    Memory {
        values: Values,
        prefix: String,
    },
}

/// The values of a memory store, by key.
type Values = Arc<Mutex<HashMap<String, Arc<[u8]>>>>;

/// Where one edge's value lives; it opens its own connection, so that a
/// thread can own it.
#[derive(Clone)]
pub enum Slot {
    Redis { addr: String, key: String },
    File(PathBuf),
    Memory { values: Values, key: String },
}

impl Slot {
    pub fn get(&self) -> io::Result<Vec<u8>> {
        match self {
            Slot::Redis { addr, key } => {
                match Conn::connect(addr)?.call(&[b"GET", key.as_bytes()])? {
                    Reply::Bulk(v) => Ok(v),
                    r => Err(io::Error::other(format!("GET {key}: {r:?}"))),
                }
            }
            Slot::File(path) => std::fs::read(path),
            // The next function gets a copy, as a payload handed to it would
            // be.
            Slot::Memory { values, key } => match lock(values).get(key) {
                Some(v) => Ok(v.to_vec()),
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no value {key:?}"),
                )),
            },
        }
    }

    pub fn put(&self, data: &[u8]) -> io::Result<()> {
        match self {
            Slot::Redis { addr, key } => Conn::connect(addr)?
                .call(&[b"SET", key.as_bytes(), data])
                .map(|_| ()),
            Slot::File(path) => std::fs::write(path, data),
            Slot::Memory { values, key } => {
                lock(values).insert(key.clone(), Arc::from(data));
                Ok(())
            }
        }
    }
}

fn lock(values: &Values) -> MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
    values.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long one store operation on an edge took.
#[derive(Debug, Clone, Copy)]
pub struct StoreOp {
    pub edge: usize,
    pub put_s: Option<f64>,
    pub get_s: Option<f64>,
}

impl Store {
    /// Opens the store of a stored `transport`: a Redis at `redis` (or a
    /// private `redis-server` started here), or a fresh directory under
    /// `dir` (default: /dev/shm).
    pub fn open(
        transport: Transport,
        redis: Option<&str>,
        dir: Option<&Path>,
        run_id: &str,
    ) -> Result<Store, SetupError> {
        match transport {
            Transport::Redis => open_redis(redis, run_id),
            Transport::File => {
                let base = dir.map(Path::to_path_buf).unwrap_or_else(|| {
                    let shm = PathBuf::from("/dev/shm");
                    if shm.is_dir() {
                        shm
                    } else {
                        std::env::temp_dir()
                    }
                });
                let dir = base.join(format!("faasin-{run_id}"));
                std::fs::create_dir(&dir).map_err(|e| {
                    SetupError(format!(
                        "--transport file: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
                Ok(Store::File { dir })
            }
            Transport::Payload => Ok(Store::Memory {
                values: Values::default(),
                prefix: format!("{run_id}:"),
            }),
            t => Err(SetupError(format!(
                "--transport {} stores nothing",
                t.name()
            ))),
        }
    }

    pub fn slot(&self, edge: usize) -> Slot {
        match self {
            Store::Redis { addr, prefix, .. } => Slot::Redis {
                addr: addr.clone(),
                key: format!("{prefix}{edge}"),
            },
            Store::File { dir } => Slot::File(dir.join(format!("edge-{edge}"))),
            Store::Memory { values, prefix } => Slot::Memory {
                values: Arc::clone(values),
                key: format!("{prefix}{edge}"),
            },
        }
    }

    /// The same store for one of several runs that use it at once (a
    /// service's invocations): its keys, or its directory, of its own.
    pub fn scoped(&self, scope: &str) -> io::Result<Store> {
        Ok(match self {
            Store::Redis {
                addr,
                server,
                prefix,
            } => Store::Redis {
                addr: addr.clone(),
                server: server.clone(),
                prefix: format!("{prefix}{scope}:"),
            },
            Store::File { dir } => {
                let dir = dir.join(scope);
                std::fs::create_dir(&dir)?;
                Store::File { dir }
            }
            Store::Memory { values, prefix } => Store::Memory {
                values: Arc::clone(values),
                prefix: format!("{prefix}{scope}:"),
            },
        })
    }

    /// The process of the private `redis-server`, if we started one.
    pub fn server_pid(&self) -> Option<i32> {
        match self {
            Store::Redis {
                server: Some(s), ..
            } => Some(s.pid()),
            _ => None,
        }
    }

    /// The report's `store` object.
    pub fn describe(&self, ops: &[StoreOp]) -> serde_json::Value {
        let ops: Vec<_> = ops
            .iter()
            .map(|o| serde_json::json!({"edge": o.edge, "put_s": o.put_s, "get_s": o.get_s}))
            .collect();
        match self {
            Store::Redis { addr, server, .. } => serde_json::json!({
                "kind": "redis",
                "addr": addr,
                "started_by_runner": server.is_some(),
                "server_max_rss_bytes": server.as_ref().and_then(|s| s.peak_rss()),
                "ops": ops,
            }),
            Store::File { dir } => serde_json::json!({
                "kind": "file",
                "dir": dir.display().to_string(),
                "ops": ops,
            }),
            Store::Memory { .. } => serde_json::json!({
                "kind": "payload",
                "ops": ops,
            }),
        }
    }

    /// Removes what the run stored on edges `0..=edges`: nothing is left
    /// behind in a shared Redis or on tmpfs (which is memory).
    pub fn clear(&self, edges: usize) {
        match self {
            Store::Redis { addr, .. } => {
                if let Ok(mut c) = Conn::connect(addr) {
                    for e in 0..=edges {
                        if let Slot::Redis { key, .. } = self.slot(e) {
                            let _ = c.call(&[b"DEL", key.as_bytes()]);
                        }
                    }
                }
            }
            Store::File { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Store::Memory { values, prefix } => {
                lock(values).retain(|k, _| !k.starts_with(prefix.as_str()));
            }
        }
    }
}

fn open_redis(given: Option<&str>, run_id: &str) -> Result<Store, SetupError> {
    let (addr, server) = match given {
        Some(a) => (a.to_string(), None),
        None => {
            let s = redis::Server::start().map_err(SetupError)?;
            (s.addr.clone(), Some(Arc::new(s)))
        }
    };
    match Conn::connect(&addr).and_then(|mut c| c.call(&[b"PING"])) {
        Ok(Reply::Simple(p)) if p == "PONG" => Ok(Store::Redis {
            addr,
            server,
            prefix: format!("faasin:{run_id}:"),
        }),
        Ok(r) => Err(SetupError(format!(
            "--transport redis: {addr} answered PING with {r:?}"
        ))),
        Err(e) => Err(SetupError(format!(
            "--transport redis: cannot reach Redis at {addr}: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_store_keeps_values_per_edge_and_clears_them() {
        let base = std::env::temp_dir();
        let s = Store::open(Transport::File, None, Some(&base), "storetest").unwrap();
        s.slot(1).put(b"one").unwrap();
        s.slot(2).put(b"two").unwrap();
        assert_eq!(s.slot(1).get().unwrap(), b"one");
        assert_eq!(s.slot(2).get().unwrap(), b"two");
        let Store::File { dir } = &s else {
            panic!("a file store")
        };
        let dir = dir.clone();
        s.clear(2);
        assert!(!dir.exists());
        assert!(Store::open(Transport::Pipe, None, None, "x").is_err());
    }

    #[test]
    fn scopes_of_a_memory_store_keep_apart_and_clear_alone() {
        let s = Store::open(Transport::Payload, None, None, "run").unwrap();
        let (a, b) = (s.scoped("a").unwrap(), s.scoped("b").unwrap());
        a.slot(1).put(b"from a").unwrap();
        b.slot(1).put(b"from b").unwrap();
        assert_eq!(a.slot(1).get().unwrap(), b"from a");
        a.clear(1);
        assert!(a.slot(1).get().is_err());
        assert_eq!(b.slot(1).get().unwrap(), b"from b");
    }
}
