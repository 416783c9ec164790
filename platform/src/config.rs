//! What is deployed: functions and chains, from the config file at start
//! (TOML) or the admin API (JSON), checked before anything changes. A bad
//! definition is an error that names the field and the reason.

use crate::cluster::{NodeConfig, NodeSpec, Selector};
use faasin_runner::chain::{check_capacity, Command, Function};
use faasin_runner::chain_file::CommandSpec;
use faasin_runner::Transport;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why a definition was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DefError {
    pub field: String,
    pub reason: String,
}

impl DefError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> DefError {
        DefError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for DefError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A deployed function.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: String,
    /// How to start it, for the runner (its capacity is set per chain).
    pub function: Function,
    /// How long its part of an invocation may take.
    pub timeout: Duration,
    pub max_instances: usize,
    /// How long an instance may stay idle before it is stopped.
    pub idle: Duration,
    /// Invocations that may wait for a free instance; more get 429.
    pub queue: usize,
    /// A Lambda function: its runtime runs under a host that serves it the
    /// Runtime API (`lambda_host`).
    pub lambda: Option<LambdaDef>,
    /// Its instances are started by someone else (Kubernetes pods, say)
    /// and join through the handoff socket; the service starts none, and
    /// `max_instances` caps how many may join.
    pub joins: bool,
}

/// How a Lambda function takes its event.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaDef {
    /// The event is the request body (its faasin) and the result its
    /// response (its faasout), as with Lambda's Invoke API; otherwise the
    /// event is the invocation's parameters and the result its return value.
    pub body_event: bool,
}

/// A deployed chain: functions in order, with the ring capacity of the
/// edge each one writes into.
#[derive(Debug, Clone)]
pub struct ChainDef {
    pub name: String,
    pub functions: Vec<String>,
    pub capacities: Vec<usize>,
    /// Rings (the default), or one of the status-quo ways for comparison.
    pub transport: Transport,
    /// Functions that must run on a node with a label.
    pub pins: BTreeMap<String, Selector>,
}

/// A function as written in the config file or sent to the admin API.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    name: Option<String>,
    command: Option<CommandSpec>,
    image: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// A program that knows nothing of FAASIN: run per invocation with the
    /// streams on its stdin and stdout.
    #[serde(default)]
    stdio: bool,
    /// Seconds.
    timeout: Option<f64>,
    max_instances: Option<usize>,
    /// Seconds.
    idle: Option<f64>,
    memory: Option<String>,
    queue: Option<usize>,
    /// `faasin` (the default) or `lambda`: a runtime interface client of
    /// AWS Lambda as `command`.
    kind: Option<String>,
    /// A Lambda function's handler (`_HANDLER`).
    handler: Option<String>,
    /// A Lambda function's event: `params` (the default) or `body`.
    event: Option<String>,
    /// Instances started elsewhere join this node with the function's join
    /// token; there is no `command` to start.
    #[serde(default)]
    joins: bool,
}

/// A chain as written in the config file or sent to the admin API.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    name: Option<String>,
    functions: Vec<String>,
    /// Ring capacity of every edge.
    capacity: Option<usize>,
    /// Ring capacity per edge, one per function (the edge it writes into).
    capacities: Option<Vec<usize>>,
    /// `faasin` (rings, the default), `pipe`, or how platforms pass data
    /// today: `payload` (each whole output held by the service and passed
    /// on as the next function's payload), `redis`, `file`.
    transport: Option<String>,
    /// Function name to the label (`KEY=VALUE`) of the node it must run on.
    #[serde(default)]
    pin: BTreeMap<String, String>,
}

const DEFAULT_TIMEOUT: f64 = 60.0;
const DEFAULT_MAX_INSTANCES: usize = 4;
/// Instances that join are as many as their orchestrator starts.
const DEFAULT_MAX_JOINED: usize = 64;
const DEFAULT_IDLE: f64 = 300.0;
const DEFAULT_QUEUE: usize = 64;

fn seconds(field: &str, v: Option<f64>, default: f64) -> Result<Duration, DefError> {
    let v = v.unwrap_or(default);
    // NaN is not positive either.
    if v.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(DefError::new(
            field,
            format!("{v} is not a positive number of seconds"),
        ));
    }
    Duration::try_from_secs_f64(v).map_err(|e| DefError::new(field, e.to_string()))
}

/// A name for the URL path and for metrics labels.
fn check_name(field: &str, name: &str) -> Result<(), DefError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !ok {
        return Err(DefError::new(
            field,
            format!("{name:?}: 1 to 64 characters of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(())
}

/// The name a definition goes by: the path's (admin API) or its own (file);
/// both, if given, must agree.
fn name_of(own: Option<String>, given: Option<&str>) -> Result<String, DefError> {
    let name = match (own, given) {
        (Some(a), Some(b)) if a != b => {
            return Err(DefError::new(
                "name",
                format!("{a:?} differs from {b:?} in the path"),
            ))
        }
        (Some(a), _) => a,
        (None, Some(b)) => b.to_string(),
        (None, None) => return Err(DefError::new("name", "missing")),
    };
    check_name("name", &name)?;
    Ok(name)
}

impl FunctionSpec {
    /// Checks the definition; `path_name` is the name the admin API's path
    /// gives it.
    pub fn check(mut self, path_name: Option<&str>) -> Result<FunctionDef, DefError> {
        let name = name_of(self.name.take(), path_name)?;
        if self.joins {
            return self.joining(name);
        }
        let command = CommandSpec::check(self.command).map_err(|e| DefError::new("command", e))?;
        if self.image.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(DefError::new("image", "empty"));
        }
        if self.memory.is_some() && self.image.is_none() {
            return Err(DefError::new(
                "memory",
                "limits a container; there is no `image`",
            ));
        }
        let max_instances = self.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES);
        if max_instances == 0 {
            return Err(DefError::new("max_instances", "must be at least 1"));
        }
        let timeout = seconds("timeout", self.timeout, DEFAULT_TIMEOUT)?;
        let lambda = match self.kind.as_deref() {
            None | Some("faasin") => {
                for (field, set) in [
                    ("handler", self.handler.is_some()),
                    ("event", self.event.is_some()),
                ] {
                    if set {
                        return Err(DefError::new(field, "only for `kind = \"lambda\"`"));
                    }
                }
                None
            }
            Some("lambda") if self.stdio => {
                return Err(DefError::new(
                    "stdio",
                    "a Lambda function is not a stdio program",
                ))
            }
            Some("lambda") => Some(LambdaDef {
                body_event: match self.event.as_deref() {
                    None | Some("params") => false,
                    Some("body") => true,
                    Some(e) => {
                        return Err(DefError::new("event", format!("{e:?}: `params` or `body`")))
                    }
                },
            }),
            Some(k) => {
                return Err(DefError::new(
                    "kind",
                    format!("{k:?}: `faasin` or `lambda`"),
                ))
            }
        };
        let mut env = self.env;
        if lambda.is_some() {
            let memory_mb = match &self.memory {
                Some(m) => megabytes(m).ok_or_else(|| {
                    DefError::new("memory", format!("{m:?}: a size such as 512m or 1g"))
                })?,
                None => 128,
            };
            let lambda_env = [
                ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
                (
                    "AWS_LAMBDA_FUNCTION_TIMEOUT",
                    timeout.as_secs_f64().to_string(),
                ),
                ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "faasin".into()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ];
            for (k, v) in lambda_env {
                env.entry(k.into()).or_insert(v);
            }
            if let Some(h) = &self.handler {
                env.entry("_HANDLER".into()).or_insert_with(|| h.clone());
            }
        }
        Ok(FunctionDef {
            function: Function {
                name: name.clone(),
                command,
                image: self.image,
                env,
                stdio: self.stdio,
                handoff: false,
                capacity: faasin::DEFAULT_CAPACITY,
                memory: self.memory,
            },
            name,
            timeout,
            max_instances,
            idle: seconds("idle", self.idle, DEFAULT_IDLE)?,
            queue: self.queue.unwrap_or(DEFAULT_QUEUE),
            lambda,
            joins: false,
        })
    }

    /// A function whose instances join: nothing here says how to start
    /// one, and they stay while they are connected, not for an idle time.
    fn joining(self, name: String) -> Result<FunctionDef, DefError> {
        for (field, set) in [
            ("command", self.command.is_some()),
            ("image", self.image.is_some()),
            ("env", !self.env.is_empty()),
            ("stdio", self.stdio),
            ("memory", self.memory.is_some()),
            ("idle", self.idle.is_some()),
            ("kind", self.kind.is_some()),
            ("handler", self.handler.is_some()),
            ("event", self.event.is_some()),
        ] {
            if set {
                return Err(DefError::new(
                    field,
                    "not for a function whose instances join (`joins = true`): whoever starts them sets it",
                ));
            }
        }
        let max_instances = self.max_instances.unwrap_or(DEFAULT_MAX_JOINED);
        if max_instances == 0 {
            return Err(DefError::new("max_instances", "must be at least 1"));
        }
        Ok(FunctionDef {
            function: Function {
                name: name.clone(),
                command: Command::Argv(Vec::new()),
                image: None,
                env: BTreeMap::new(),
                stdio: false,
                handoff: false,
                capacity: faasin::DEFAULT_CAPACITY,
                memory: None,
            },
            name,
            timeout: seconds("timeout", self.timeout, DEFAULT_TIMEOUT)?,
            max_instances,
            // Not used: joined instances stay while they are connected.
            idle: Duration::from_secs_f64(DEFAULT_IDLE),
            queue: self.queue.unwrap_or(DEFAULT_QUEUE),
            lambda: None,
            joins: true,
        })
    }
}

/// A container memory size (`512m`, `1g`, `268435456`) in whole megabytes,
/// as Lambda states a function's memory.
fn megabytes(size: &str) -> Option<u64> {
    let s = size.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (digits, unit) = match s.char_indices().last()? {
        (i, 'k') => (&s[..i], 1u64 << 10),
        (i, 'm') => (&s[..i], 1 << 20),
        (i, 'g') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let bytes = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    (bytes >= 1 << 20).then_some(bytes >> 20)
}

impl ChainSpec {
    /// Checks the definition against the functions it names.
    pub fn check(
        self,
        path_name: Option<&str>,
        function: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<ChainDef, DefError> {
        let name = name_of(self.name, path_name)?;
        if self.functions.is_empty() {
            return Err(DefError::new(
                "functions",
                "empty: a chain needs a function",
            ));
        }
        let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, f) in self.functions.iter().enumerate() {
            let Some(max) = function(f) else {
                return Err(DefError::new(
                    format!("functions[{k}]"),
                    format!("no function {f:?} is deployed"),
                ));
            };
            let n = uses.entry(f).or_default();
            *n += 1;
            if *n > max {
                return Err(DefError::new(
                    format!("functions[{k}]"),
                    format!("{f:?} appears {n} times but may have {max} instance(s)"),
                ));
            }
        }
        let capacities = match (self.capacity, self.capacities) {
            (Some(_), Some(_)) => {
                return Err(DefError::new(
                    "capacities",
                    "give `capacity` or `capacities`, not both",
                ))
            }
            (_, Some(v)) if v.len() != self.functions.len() => {
                return Err(DefError::new(
                    "capacities",
                    format!("{} values for {} functions", v.len(), self.functions.len()),
                ))
            }
            (_, Some(v)) => v,
            (c, None) => vec![c.unwrap_or(faasin::DEFAULT_CAPACITY); self.functions.len()],
        };
        for (k, c) in capacities.iter().enumerate() {
            check_capacity(*c).map_err(|e| DefError::new(format!("capacities[{k}]"), e))?;
        }
        let transport = match self.transport.as_deref() {
            None => Transport::Faasin,
            Some(t) => t.parse().map_err(|e| DefError::new("transport", e))?,
        };
        let mut pins = BTreeMap::new();
        for (f, label) in self.pin {
            let field = format!("pin.{f}");
            if !self.functions.contains(&f) {
                return Err(DefError::new(field, "not a function of this chain"));
            }
            let sel: Selector = label.parse().map_err(|e| DefError::new(&field, e))?;
            if transport != Transport::Faasin {
                return Err(DefError::new(field, "only chains over rings cross nodes"));
            }
            pins.insert(f, sel);
        }
        Ok(ChainDef {
            name,
            functions: self.functions,
            capacities,
            transport,
            pins,
        })
    }
}

/// The service's own settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The invocation API.
    pub listen: SocketAddr,
    /// The admin API (deploy, list, delete).
    pub admin: SocketAddr,
    /// On SIGTERM, how long invocations in flight may go on.
    pub drain: Duration,
    /// How long an invocation may wait in a queue before it gets 503.
    pub queue_wait: Duration,
    pub docker: String,
    /// Request headers passed to functions as invocation parameters.
    pub headers: Vec<String>,
    /// The Redis of chains with `transport = "redis"`; by default the
    /// service starts its own on 127.0.0.1.
    pub redis: Option<String>,
    /// Where the handoff socket listens; by default a private directory.
    /// Instances that join need it somewhere they can reach.
    pub handoff_dir: Option<PathBuf>,
    /// The file holding this node's join secret: an instance of function F
    /// joins by presenting `SECRET/F` as its token.
    pub join_secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    drain: Option<f64>,
    queue_wait: Option<f64>,
    docker: Option<String>,
    headers: Option<Vec<String>>,
    redis: Option<String>,
    handoff_dir: Option<PathBuf>,
    join_secret_file: Option<PathBuf>,
    node: Option<NodeSpec>,
    #[serde(default)]
    function: Vec<FunctionSpec>,
    #[serde(default)]
    chain: Vec<ChainSpec>,
}

/// A whole config file, checked.
pub struct Config {
    pub service: ServiceConfig,
    /// This node among its peers, if it has any part in a cluster.
    pub node: Option<NodeConfig>,
    pub functions: Vec<FunctionDef>,
    pub chains: Vec<ChainDef>,
}

/// Parses and checks a config file's text; errors name `origin`, the
/// definition and the field.
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| format!("{origin}: {}", e.message()))?;
    let service = ServiceConfig {
        listen: spec.listen.unwrap_or(([127, 0, 0, 1], 8080).into()),
        admin: spec.admin.unwrap_or(([127, 0, 0, 1], 8081).into()),
        drain: seconds("drain", spec.drain, 10.0).map_err(|e| format!("{origin}: {e}"))?,
        queue_wait: seconds("queue_wait", spec.queue_wait, 30.0)
            .map_err(|e| format!("{origin}: {e}"))?,
        docker: spec.docker.unwrap_or_else(|| "docker".into()),
        headers: spec.headers.unwrap_or_else(|| vec!["content-type".into()]),
        redis: spec.redis,
        handoff_dir: spec.handoff_dir,
        join_secret_file: spec.join_secret_file,
    };
    let node = match spec.node {
        Some(n) => Some(n.check().map_err(|e| format!("{origin}: {e}"))?),
        None => None,
    };
    let mut functions: Vec<FunctionDef> = Vec::new();
    for (i, f) in spec.function.into_iter().enumerate() {
        let def = f
            .check(None)
            .map_err(|e| format!("{origin}: function {}: {e}", i + 1))?;
        if functions.iter().any(|g| g.name == def.name) {
            return Err(format!("{origin}: two functions are named {:?}", def.name));
        }
        functions.push(def);
    }
    let max_of = |n: &str| {
        functions
            .iter()
            .find(|f| f.name == n)
            .map(|f| f.max_instances)
    };
    let mut chains: Vec<ChainDef> = Vec::new();
    for (i, c) in spec.chain.into_iter().enumerate() {
        let def = c
            .check(None, &max_of)
            .map_err(|e| format!("{origin}: chain {}: {e}", i + 1))?;
        if chains.iter().any(|g| g.name == def.name) {
            return Err(format!("{origin}: two chains are named {:?}", def.name));
        }
        chains.push(def);
    }
    Ok(Config {
        service,
        node,
        functions,
        chains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:9000"
[[function]]
name = "up"
command = ["tr", "a-z", "A-Z"]
stdio = true
max_instances = 2
[[function]]
name = "cat"
command = "faasin cat"
timeout = 5
[[chain]]
name = "twice"
functions = ["up", "cat", "up"]
capacity = 65536
"#;

    #[test]
    fn a_good_file_is_read_with_defaults() {
        let c = parse(GOOD, "p.toml").unwrap();
        assert_eq!(c.service.listen.port(), 9000);
        assert_eq!(c.service.admin.port(), 8081);
        assert_eq!(c.functions.len(), 2);
        assert!(c.functions[0].function.stdio);
        assert_eq!(c.functions[1].timeout, Duration::from_secs(5));
        assert_eq!(c.functions[1].max_instances, DEFAULT_MAX_INSTANCES);
        assert_eq!(c.chains[0].capacities, [65536; 3]);
    }

    #[test]
    fn bad_definitions_name_the_field() {
        // (what to replace in GOOD, with what, what the error must say)
        #[rustfmt::skip]
        let cases = [
            ("timeout = 5", "timeout = -1", "function 2: timeout:"),
            ("max_instances = 2", "max_instances = 0", "function 1: max_instances:"),
            ("\"cat\", \"up\"]", "\"cat\", \"nope\"]", "chain 1: functions[2]: no function \"nope\""),
            ("max_instances = 2", "max_instances = 1", "chain 1: functions[2]: \"up\" appears 2 times"),
            ("capacity = 65536", "capacity = 1000", "chain 1: capacities[0]:"),
            ("name = \"cat\"", "name = \"c/t\"", "function 2: name:"),
            ("timeout = 5", "timeuot = 5", "unknown field `timeuot`"),
            ("capacity = 65536", "pin = { nope = \"node=b\" }", "chain 1: pin.nope: not a function"),
            ("capacity = 65536", "pin = { cat = \"b\" }", "chain 1: pin.cat: \"b\" is not a label selector"),
        ];
        for (from, to, want) in cases {
            let text = GOOD.replace(from, to);
            let e = parse(&text, "p.toml").err().expect(want);
            assert!(
                e.starts_with("p.toml: ") && e.contains(want),
                "{e} (want {want})"
            );
        }
    }

    #[test]
    fn a_lambda_function_gets_lambdas_env_and_bad_ones_name_the_field() {
        let spec = |extra: &str| {
            let text = format!("[[function]]\nname = \"l\"\ncommand = \"x\"\n{extra}");
            parse(&text, "p.toml")
        };
        let c = spec("kind = \"lambda\"\nhandler = \"app.h\"\nevent = \"body\"\nimage = \"i\"\nmemory = \"1g\"\ntimeout = 3\nenv = { AWS_REGION = \"eu-west-1\" }").unwrap();
        let f = &c.functions[0];
        assert_eq!(f.lambda, Some(LambdaDef { body_event: true }));
        let env = &f.function.env;
        assert_eq!(env["_HANDLER"], "app.h");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "1024");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_TIMEOUT"], "3");
        assert_eq!(env["AWS_REGION"], "eu-west-1", "the config's env wins");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "l");
        let plain = spec("").unwrap();
        assert!(plain.functions[0].lambda.is_none());
        assert!(!plain.functions[0].function.env.contains_key("AWS_REGION"));
        for (extra, want) in [
            ("kind = \"aws\"", "kind:"),
            ("kind = \"lambda\"\nevent = \"query\"", "event:"),
            ("kind = \"lambda\"\nstdio = true", "stdio:"),
            ("handler = \"app.h\"", "handler: only for"),
            (
                "kind = \"lambda\"\nimage = \"i\"\nmemory = \"lots\"",
                "memory:",
            ),
        ] {
            let e = spec(extra).err().expect(want);
            assert!(e.contains(want), "{e} (want {want})");
        }
        assert_eq!(megabytes("512m"), Some(512));
        assert_eq!(megabytes("2G"), Some(2048));
        assert_eq!(megabytes("1048576"), Some(1));
        assert_eq!(megabytes("100k"), None);
    }

    #[test]
    fn an_api_definition_takes_its_name_from_the_path() {
        let spec: FunctionSpec = serde_json::from_str(r#"{"command": "x"}"#).unwrap();
        assert_eq!(spec.check(Some("f")).unwrap().name, "f");
        let spec: FunctionSpec = serde_json::from_str(r#"{"name": "g", "command": "x"}"#).unwrap();
        assert_eq!(spec.check(Some("f")).unwrap_err().field, "name");
    }
}
