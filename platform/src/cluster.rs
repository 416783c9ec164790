//! This node among its peers: its name and labels, where peers reach it,
//! who the peers are, and placement: where each function of an invocation
//! runs. Locality first: every function on this node while it has room,
//! a function without room spills to a peer (the node of the function
//! before it, when that is a peer, so that neighbours stay together), and
//! a function pinned by a label runs on the first node that has it.

use crate::tcp_edges::EdgeListener;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The `[node]` table of the config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// The peer API (HTTP), where peers ask this node to run their
    /// functions.
    peer_listen: SocketAddr,
    /// Where peers connect edge streams.
    edge_listen: SocketAddr,
    /// The address peers connect to, when `edge_listen` is a wildcard.
    advertise: Option<IpAddr>,
    #[serde(default)]
    peer: Vec<PeerSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerSpec {
    name: String,
    /// Its peer API, `http://HOST:PORT`.
    url: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A node as placement sees it: its name and labels (its name is also its
/// label `node`).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl NodeInfo {
    fn new(name: String, mut labels: BTreeMap<String, String>) -> NodeInfo {
        labels.insert("node".into(), name.clone());
        NodeInfo { name, labels }
    }

    fn has(&self, s: &Selector) -> bool {
        self.labels.get(&s.key) == Some(&s.value)
    }
}

#[derive(Debug, Clone)]
pub struct Peer {
    pub info: NodeInfo,
    /// Its peer API, without a trailing slash.
    pub url: String,
}

/// This node's settings, checked.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub me: NodeInfo,
    pub peer_listen: SocketAddr,
    pub edge_listen: SocketAddr,
    pub advertise: Option<IpAddr>,
    pub peers: Vec<Peer>,
}

impl NodeSpec {
    pub fn check(self) -> Result<NodeConfig, String> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 63
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        let mut names = vec![self.name.clone()];
        let mut peers = Vec::new();
        for (i, p) in self.peer.into_iter().enumerate() {
            let url = p.url.trim_end_matches('/').to_string();
            if !url.starts_with("http://") {
                return Err(format!(
                    "node.peer[{i}].url: {url:?} is not http://HOST:PORT"
                ));
            }
            if names.contains(&p.name) {
                return Err(format!("node.peer[{i}].name: {:?} is taken", p.name));
            }
            names.push(p.name.clone());
            peers.push(Peer {
                info: NodeInfo::new(p.name, p.labels),
                url,
            });
        }
        if let Some(bad) = names.iter().find(|n| !name_ok(n)) {
            return Err(format!(
                "node: {bad:?} is not a node name (1 to 63 of A-Z a-z 0-9 - .)"
            ));
        }
        Ok(NodeConfig {
            me: NodeInfo::new(self.name, self.labels),
            peer_listen: self.peer_listen,
            edge_listen: self.edge_listen,
            advertise: self.advertise,
            peers,
        })
    }
}

/// This node at work: its settings, its edge listener, and the client it
/// asks peers with.
pub struct Node {
    pub config: NodeConfig,
    pub edges: EdgeListener,
    pub client: reqwest::Client,
}

impl Node {
    pub fn start(config: NodeConfig) -> Result<Node, String> {
        let edges = EdgeListener::start(config.edge_listen, config.advertise)
            .map_err(|e| format!("cannot listen for edges on {}: {e}", config.edge_listen))?;
        // No overall timeout: a segment's answer lasts as long as it runs.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Node {
            config,
            edges,
            client,
        })
    }
}

/// A label a function is pinned to: `key=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Selector, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok(Selector {
                key: k.trim().into(),
                value: v.trim().into(),
            }),
            _ => Err(format!("{s:?} is not a label selector KEY=VALUE")),
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Where a function of an invocation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Here,
    /// The peer of that index.
    Peer(usize),
}

/// Places each function of a chain: `pins` (per function, a label it must
/// run on) and `room` (per function, whether this node can run it now).
pub fn place(
    node: &NodeConfig,
    pins: &[Option<Selector>],
    room: &[bool],
) -> Result<Vec<Place>, String> {
    let mut places: Vec<Place> = Vec::with_capacity(pins.len());
    for (k, pin) in pins.iter().enumerate() {
        let p = match pin {
            Some(s) if node.me.has(s) => Place::Here,
            Some(s) => match node.peers.iter().position(|p| p.info.has(s)) {
                Some(i) => Place::Peer(i),
                None => {
                    return Err(format!(
                        "function {} is pinned to {s}: no node has it",
                        k + 1
                    ))
                }
            },
            None if room[k] => Place::Here,
            None => match places.last() {
                Some(&Place::Peer(i)) => Place::Peer(i),
                // No peer to spill to: it waits here for room.
                _ if node.peers.is_empty() => Place::Here,
                _ => Place::Peer(0),
            },
        };
        places.push(p);
    }
    Ok(places)
}

impl NodeConfig {
    /// The name of the node at a place.
    pub fn name_of(&self, p: Place) -> &str {
        match p {
            Place::Here => &self.me.name,
            Place::Peer(i) => &self.peers[i].info.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(peers: &[(&str, &str)]) -> NodeConfig {
        let text = peers
            .iter()
            .map(|(n, l)| {
                format!(
                    "[[peer]]\nname = \"{n}\"\nurl = \"http://10.0.0.2:1\"\nlabels = {{ {l} }}\n"
                )
            })
            .collect::<String>();
        let spec: NodeSpec = toml::from_str(&format!(
            "name = \"a\"\npeer_listen = \"127.0.0.1:1\"\nedge_listen = \"127.0.0.1:2\"\n{text}"
        ))
        .unwrap();
        spec.check().unwrap()
    }

    fn pin(s: &str) -> Option<Selector> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn locality_first_then_spill_next_to_the_neighbour() {
        let n = node(&[("b", "zone = \"w\""), ("c", "")]);
        let all_here = place(&n, &[None, None, None], &[true; 3]).unwrap();
        assert_eq!(all_here, [Place::Here; 3]);
        let spilled = place(&n, &[None, None, None], &[true, false, false]).unwrap();
        assert_eq!(spilled, [Place::Here, Place::Peer(0), Place::Peer(0)]);
        let back = place(&n, &[None, None, None], &[false, true, true]).unwrap();
        assert_eq!(back, [Place::Peer(0), Place::Here, Place::Here]);
        let alone = node(&[]);
        assert_eq!(place(&alone, &[None], &[false]).unwrap(), [Place::Here]);
    }

    #[test]
    fn a_pin_forces_its_node_even_with_room_here() {
        let n = node(&[("b", "zone = \"w\""), ("c", "")]);
        let p = place(&n, &[None, pin("node=c"), None], &[true; 3]).unwrap();
        assert_eq!(p, [Place::Here, Place::Peer(1), Place::Here]);
        let p = place(&n, &[pin("zone=w"), pin("node=a")], &[true; 2]).unwrap();
        assert_eq!(p, [Place::Peer(0), Place::Here]);
        let e = place(&n, &[None, pin("zone=e")], &[true; 2]).unwrap_err();
        assert!(e.contains("function 2") && e.contains("zone=e"), "{e}");
    }

    #[test]
    fn bad_node_settings_are_refused() {
        assert!("zone".parse::<Selector>().is_err());
        assert!("=x".parse::<Selector>().is_err());
        let spec = |extra: &str| -> Result<NodeConfig, String> {
            toml::from_str::<NodeSpec>(&format!(
                "name = \"a\"\npeer_listen = \"127.0.0.1:1\"\nedge_listen = \"127.0.0.1:2\"\n{extra}"
            ))
            .map_err(|e| e.to_string())?
            .check()
        };
        let e = spec("[[peer]]\nname = \"a\"\nurl = \"http://x:1\"").unwrap_err();
        assert!(e.contains("taken"), "{e}");
        let e = spec("[[peer]]\nname = \"b\"\nurl = \"x:1\"").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        let e = spec("[[peer]]\nname = \"b/c\"\nurl = \"http://x:1\"").unwrap_err();
        assert!(e.contains("node name"), "{e}");
    }
}
