//! The service: what is deployed, the pools, the listeners, and the order
//! in which it all stops. SIGTERM (or SIGINT) stops taking requests, lets
//! invocations in flight finish for the drain time, cancels the rest, then
//! stops every instance and container. A SIGKILL of the service leaves no
//! instance behind either: processes die with it (the kernel's parent-death
//! signal) and the guard, a watchdog process, removes containers.

use crate::config::{self, Config, ServiceConfig};
use crate::invoke::{self, Target};
use crate::metrics::Metrics;
use crate::pool::Starter;
use crate::registry::Registry;
use crate::results::Results;
use axum::serve::ListenerExt;
use faasin_runner::guard::Guard;
use faasin_runner::handoff_server::{random_token, HandoffServer};
use faasin_runner::store::Store;
use faasin_runner::workers::Workers;
use faasin_runner::Transport;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Service {
    pub config: ServiceConfig,
    /// This node among its peers, if it is part of a cluster.
    pub node: Option<crate::cluster::Node>,
    registry: RwLock<Registry>,
    pub starter: Arc<Starter>,
    pub metrics: Arc<Metrics>,
    pub results: Results,
    pub workers: Workers,
    /// The cancel flags of the invocations in flight, by id.
    in_flight: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The stores of chains with a stored transport, opened at first use.
    stores: Mutex<HashMap<&'static str, Arc<Store>>>,
}

/// An invocation in flight; it is over when this is dropped.
pub struct InFlight {
    svc: Arc<Service>,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.svc.flights().remove(&self.id);
    }
}

impl Service {
    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an invocation in flight until the returned value is dropped.
    pub fn begin(self: &Arc<Self>, id: &str, cancel: &Arc<AtomicBool>) -> InFlight {
        self.flights().insert(id.to_string(), Arc::clone(cancel));
        InFlight {
            svc: Arc::clone(self),
            id: id.to_string(),
        }
    }

    /// A deployed chain and the pools of its functions. Err: its store
    /// cannot be opened.
    pub fn chain_target(&self, name: &str) -> Option<Result<Target, String>> {
        let (c, pools) = {
            let reg = self.registry();
            let c = reg.chain(name)?;
            let pools = (c.functions.iter())
                .map(|f| reg.function(f))
                .collect::<Option<Vec<_>>>()?;
            (c, pools)
        };
        let store = match c.transport.is_stored() {
            true => match self.store(c.transport) {
                Ok(s) => Some(s),
                Err(e) => return Some(Err(e)),
            },
            false => None,
        };
        Some(Ok(Target {
            kind: "chain",
            name: name.to_string(),
            pools,
            capacities: c.capacities.clone(),
            store,
        }))
    }

    /// The store of a stored transport, opened (a redis-server started)
    /// at first use.
    fn store(&self, t: Transport) -> Result<Arc<Store>, String> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stores.get(t.name()) {
            return Ok(Arc::clone(s));
        }
        let s = Store::open(t, self.config.redis.as_deref(), None, &self.starter.run_id)
            .map_err(|e| e.0)?;
        let s = Arc::new(s);
        stores.insert(t.name(), Arc::clone(&s));
        Ok(s)
    }

    /// A deployed function, invoked alone.
    pub fn function_target(&self, name: &str) -> Option<Target> {
        let pool = self.registry().function(name)?;
        Some(Target {
            kind: "function",
            name: name.to_string(),
            pools: vec![pool],
            capacities: vec![faasin::DEFAULT_CAPACITY],
            store: None,
        })
    }
}

/// `faasin serve -c FILE`: runs until SIGTERM or SIGINT.
pub fn serve(path: &Path) -> ExitCode {
    let fail = |m: String| {
        eprintln!("faasin serve: {m}");
        ExitCode::from(2)
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", path.display())),
    };
    let cfg = match config::parse(&text, &path.display().to_string()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Sets the service up from a checked config.
fn build(cfg: Config) -> Result<Arc<Service>, String> {
    let chain = faasin_runner::chain::Chain {
        functions: cfg.functions.iter().map(|f| f.function.clone()).collect(),
    };
    faasin_runner::containers::check_images(&chain, &cfg.service.docker).map_err(|e| e.0)?;
    let server = match &cfg.service.handoff_dir {
        Some(dir) => HandoffServer::start_in(dir),
        None => HandoffServer::start(),
    }
    .map_err(|e| format!("cannot serve the handoff socket: {e}"))?;
    let join_secret = cfg
        .service
        .join_secret_file
        .as_deref()
        .map(read_join_secret)
        .transpose()?;
    // The service's own ends of a chain's first and last ring open the same
    // memory again invocation after invocation, and it made every ring.
    faasin::keep_mappings();
    let run_id = random_token()[..8].to_string();
    let guard = Guard::start(&cfg.service.docker, &run_id);
    let mut starter = Starter::new(server, guard, cfg.service.docker.clone(), run_id);
    starter.join_secret = join_secret;
    let starter = Arc::new(starter);
    let metrics = Arc::new(Metrics::new());
    let mut registry = Registry::default();
    for f in cfg.functions {
        registry
            .put_function(f, &starter, &metrics)
            .map_err(|e| e.to_string())?;
    }
    let node = cfg.node.map(crate::cluster::Node::start).transpose()?;
    let svc = Service {
        config: cfg.service,
        node,
        registry: RwLock::new(registry),
        starter,
        metrics,
        results: Results::default(),
        workers: Workers::new(4).map_err(|e| format!("cannot start threads: {e}"))?,
        in_flight: Mutex::default(),
        stores: Mutex::default(),
    };
    Ok(Arc::new(svc))
}

/// The secret that instances started by others present to join: at least
/// 32 characters of A-Z a-z 0-9 - _, so that a token is one plain word
/// and not guessed.
fn read_join_secret(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("join_secret_file {}: {e}", path.display()))?;
    let secret = text.trim();
    let ok = secret.len() >= 32
        && (secret.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(format!(
            "join_secret_file {}: needs one line of at least 32 characters of A-Z a-z 0-9 - _",
            path.display()
        ));
    }
    Ok(secret.to_string())
}

async fn run(mut cfg: Config) -> Result<(), String> {
    let chains = std::mem::take(&mut cfg.chains);
    let svc = build(cfg)?;
    {
        let mut reg = svc.registry_mut();
        for c in chains {
            reg.put_chain_def(c);
        }
    }
    let bind = |a| async move {
        tokio::net::TcpListener::bind(a)
            .await
            .map_err(|e| format!("cannot listen on {a}: {e}"))
    };
    let front_l = bind(svc.config.listen).await?;
    let admin_l = bind(svc.config.admin).await?;
    let peer_l = match &svc.node {
        Some(n) => Some(bind(n.config.peer_listen).await?),
        None => None,
    };
    eprintln!(
        "faasin serve: invocations on http://{}, admin on http://{}",
        front_l.local_addr().map_err(|e| e.to_string())?,
        admin_l.local_addr().map_err(|e| e.to_string())?
    );
    let stop = CancellationToken::new();
    tokio::spawn(on_signals(stop.clone()));
    let reaper = start_reaper(&svc, &stop);
    // No Nagle: a streamed response's last small chunk must not wait for
    // the client's delayed acknowledgement.
    let nodelay = |t: &mut tokio::net::TcpStream| {
        let _ = t.set_nodelay(true);
    };
    let front = axum::serve(
        front_l.tap_io(nodelay),
        crate::front::router(Arc::clone(&svc)),
    )
    .with_graceful_shutdown(stop.clone().cancelled_owned());
    let admin = axum::serve(
        admin_l.tap_io(nodelay),
        crate::admin::router(Arc::clone(&svc)),
    )
    .with_graceful_shutdown(stop.clone().cancelled_owned());
    let peer = async {
        if let Some(l) = peer_l {
            let router = crate::peer::router(Arc::clone(&svc));
            let _ = axum::serve(l.tap_io(nodelay), router)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .await;
        }
    };
    let served = async { tokio::join!(front, admin, peer) };
    tokio::pin!(served);
    tokio::select! {
        _ = &mut served => {}
        _ = drained(&stop, svc.config.drain) => {
            // Invocations still in flight after the drain time are cut off.
            for c in svc.flights().values() {
                invoke::cancel(c);
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
        }
    }
    let _ = reaper.join();
    stop_everything(&svc);
    Ok(())
}

/// Resolves the drain time after `stop` is cancelled.
async fn drained(stop: &CancellationToken, drain: Duration) {
    stop.cancelled().await;
    tokio::time::sleep(drain).await;
}

async fn on_signals(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("faasin serve: stopping");
    stop.cancel();
}

/// Stops idle instances past their idle time, once a second, until `stop`.
fn start_reaper(svc: &Arc<Service>, stop: &CancellationToken) -> std::thread::JoinHandle<()> {
    let (svc, stop) = (Arc::clone(svc), stop.clone());
    std::thread::spawn(move || {
        while !stop.is_cancelled() {
            std::thread::sleep(Duration::from_millis(250));
            let pools: Vec<_> = svc.registry().pools().cloned().collect();
            pools.iter().for_each(|p| p.reap());
        }
    })
}

/// Stops every instance and waits (bounded) until they are gone.
fn stop_everything(svc: &Service) {
    svc.registry().close_all();
    let until = Instant::now() + Duration::from_secs(15);
    while svc.starter.stopping() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    svc.starter
        .guard
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .done();
}
