//! The scheduler of one function's instances: warm ones wait idle between
//! invocations; an invocation leases as many as it needs (starting new ones,
//! cold, up to the function's maximum), or waits in a bounded queue; a lease
//! comes back healthy (idle again) or is stopped and replaced by the next
//! cold start. Idle instances are stopped after the function's idle time.

use crate::config::FunctionDef;
use crate::metrics::Metrics;
use faasin_runner::guard::Guard;
use faasin_runner::handoff_server::HandoffServer;
use faasin_runner::instance::{wait_any, Event, Instance, LogSink, Start};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A function must ask for its first invocation within this long of its
/// start.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped instance may take to exit by itself.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What every pool needs to start instances.
pub struct Starter {
    pub server: HandoffServer,
    pub guard: Mutex<Guard>,
    pub docker: String,
    /// Names this service's containers.
    pub run_id: String,
    /// The `faasin` binary, which runs stdio functions' watchdog.
    pub exe: std::path::PathBuf,
    started: AtomicU64,
    /// Instances being stopped right now.
    stopping: Arc<AtomicUsize>,
    /// Ring memory kept between the invocations of the same two parties.
    pub rings: RingCache,
    /// The secret in the token with which instances started by others join
    /// (`SECRET/FUNCTION`); none: no instance may join.
    pub join_secret: Option<String>,
}

impl Starter {
    pub fn new(server: HandoffServer, guard: Guard, docker: String, run_id: String) -> Starter {
        Starter {
            server,
            guard: Mutex::new(guard),
            docker,
            run_id,
            exe: std::env::current_exe().unwrap_or_else(|_| "faasin".into()),
            started: AtomicU64::new(0),
            stopping: Arc::default(),
            rings: RingCache::default(),
            join_secret: None,
        }
    }

    /// Instances being stopped right now.
    pub fn stopping(&self) -> usize {
        // Acquire: pairs with the Release decrement when a stop is done, so
        // whoever sees 0 sees every stop's effects.
        self.stopping.load(Ordering::Acquire)
    }

    /// Stops an instance on a thread of its own; its token goes at once.
    fn retire(&self, instance: Instance, serial: u64) {
        instance.withdraw(&self.server);
        self.rings.forget(serial);
        // Relaxed: the count only needs to be up before the thread starts,
        // which the spawn orders.
        self.stopping.fetch_add(1, Ordering::Relaxed);
        let (docker, stopping) = (self.docker.clone(), Arc::clone(&self.stopping));
        std::thread::spawn(move || {
            instance.stop(STOP_GRACE, &docker);
            // Release: pairs with the Acquire load in `stopping`.
            stopping.fetch_sub(1, Ordering::Release);
        });
    }
}

/// An instance and the invocation its output lines are logged under.
pub struct Leased {
    pub instance: Instance,
    /// This service's number for the instance.
    pub serial: u64,
    /// The invocation it serves ("-" while idle), for its log lines.
    pub tag: Arc<Mutex<String>>,
    /// Started for this lease.
    pub cold: bool,
}

/// Leases split for a warm chain, which takes their instances: what each
/// lease keeps beside its instance, to give the instances back with.
pub struct Lent(Vec<(Arc<Mutex<String>>, u64)>);

impl Lent {
    /// The instances of `leased`, in order, and the rest of each lease.
    pub fn split(leased: Vec<Leased>) -> (Vec<Instance>, Lent) {
        let (instances, rest) = leased
            .into_iter()
            .map(|l| (l.instance, (l.tag, l.serial)))
            .unzip();
        (instances, Lent(rest))
    }

    /// Gives each instance back to its pool (`pools` in lease order).
    pub fn give_back(self, instances: Vec<Instance>, pools: &[Arc<Pool>]) {
        for ((instance, (tag, serial)), pool) in instances.into_iter().zip(self.0).zip(pools) {
            pool.give_back(Leased {
                instance,
                serial,
                tag,
                cold: false,
            });
        }
    }
}

struct Idle {
    leased: Leased,
    since: Instant,
}

#[derive(Default)]
struct State {
    idle: Vec<Idle>,
    /// Instances alive or being started: idle, leased, starting.
    live: usize,
    /// Leases waiting in the queue.
    waiting: usize,
    /// Replaced or deleted: leases come back to be stopped.
    closed: bool,
}

/// Why no lease was given.
#[derive(Debug)]
pub enum Refused {
    /// The queue is full (429).
    QueueFull,
    /// Waited in the queue for too long (503).
    QueueTimeout,
    /// The function was replaced or deleted meanwhile (503).
    Closed,
    /// The client went away.
    Cancelled,
    /// A new instance could not be started (502).
    Start(String),
}

pub struct Pool {
    pub def: Arc<FunctionDef>,
    starter: Arc<Starter>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Pool {
    pub fn new(def: FunctionDef, starter: Arc<Starter>, metrics: Arc<Metrics>) -> Pool {
        Pool {
            def: Arc::new(def),
            starter,
            metrics,
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets instances started by others join (a function with `joins`):
    /// each connection that presents the function's join token, made with
    /// the node's `secret`, is an instance asking for an invocation. Call
    /// once the pool it replaces, if any, is closed: the token is the same.
    pub fn open_joins(self: &Arc<Self>, secret: &str) -> Result<(), String> {
        let pool = Arc::downgrade(self);
        let token = join_token(secret, &self.def.name);
        let joined = move |conn| match pool.upgrade() {
            Some(p) => p.join(conn),
            // Closing the connection tells the instance there is no work.
            None => drop(conn),
        };
        if !self.starter.server.register_as(&token, joined) {
            return Err(format!(
                "function {:?}: its join token is still taken",
                self.def.name
            ));
        }
        Ok(())
    }

    /// An instance joined on `conn`: it waits idle from now on.
    fn join(&self, conn: std::os::fd::OwnedFd) {
        let k = self.starter.started.fetch_add(1, Ordering::Relaxed);
        let name = format!("function {:?} (joined instance {k})", self.def.name);
        let refuse = |why: String| {
            eprintln!("faasin serve: {name} turned away: {why}");
            let _ = faasin::handoff::end(std::os::fd::AsFd::as_fd(&conn));
        };
        let mut st = self.state();
        if st.closed {
            return refuse("the function was replaced or deleted".into());
        }
        if st.live >= self.def.max_instances {
            return refuse(format!("{} instances already", st.live));
        }
        let instance = match Instance::joined(name.clone(), conn) {
            Ok(i) => i,
            Err(e) => return eprintln!("faasin serve: {e}"),
        };
        st.live += 1;
        st.idle.push(Idle {
            leased: Leased {
                instance,
                serial: k,
                tag: Arc::new(Mutex::new("-".into())),
                cold: false,
            },
            since: Instant::now(),
        });
        self.publish(&st);
        self.changed.notify_all();
    }

    /// Whether `uses` instances are free for an invocation now, without
    /// waiting in the queue.
    pub fn room(&self, uses: usize) -> bool {
        let st = self.state();
        st.waiting == 0 && self.free(&st) >= uses
    }

    /// Instances a lease could have now: idle ones, and those it may start
    /// (none for a function whose instances join: their orchestrator
    /// starts them).
    fn free(&self, st: &State) -> usize {
        let startable = match self.def.joins {
            true => 0,
            false => self.def.max_instances.saturating_sub(st.live),
        };
        st.idle.len() + startable
    }

    /// Leases `n` instances, waiting up to `wait` in the queue for them.
    pub fn lease(
        &self,
        n: usize,
        wait: Duration,
        cancel: &AtomicBool,
    ) -> Result<Vec<Leased>, Refused> {
        let deadline = Instant::now() + wait;
        let mut st = self.state();
        let mut queued = false;
        let got = loop {
            if st.closed {
                break Err(Refused::Closed);
            }
            self.drop_dead(&mut st);
            if self.free(&st) >= n {
                break Ok(());
            }
            if !queued {
                if st.waiting >= self.def.queue {
                    break Err(Refused::QueueFull);
                }
                st.waiting += 1;
                queued = true;
                self.publish(&st);
            }
            // Relaxed: a flag polled while waiting; nothing is published
            // through it.
            if cancel.load(Ordering::Relaxed) {
                break Err(Refused::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Refused::QueueTimeout);
            }
            let slice = (deadline - now).min(Duration::from_millis(50));
            st = self
                .changed
                .wait_timeout(st, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        if queued {
            st.waiting -= 1;
        }
        if let Err(e) = got {
            self.publish(&st);
            return Err(e);
        }
        let warm = n.min(st.idle.len());
        let from = st.idle.len() - warm;
        let mut leased: Vec<Leased> = st.idle.drain(from..).map(|i| i.leased).collect();
        let cold = n - warm;
        // Reserved now, started below without the lock.
        st.live += cold;
        self.publish(&st);
        drop(st);
        for started in 0..cold {
            match self.start() {
                Ok(l) => leased.push(l),
                Err(e) => {
                    // This one and those not started yet give their places
                    // back; the ones started go back as instances.
                    self.state().live -= cold - started;
                    self.changed.notify_all();
                    leased.into_iter().for_each(|l| self.give_back(l));
                    return Err(Refused::Start(e));
                }
            }
        }
        Ok(leased)
    }

    /// Starts an instance and waits until it asks for its first invocation.
    fn start(&self) -> Result<Leased, String> {
        let f = &self.def.function;
        let k = self.starter.started.fetch_add(1, Ordering::Relaxed);
        let container = f
            .image
            .as_ref()
            .map(|_| format!("faasin-{}-{}-{k}", self.starter.run_id, self.def.name));
        let tag = Arc::new(Mutex::new("-".to_string()));
        let log: LogSink = {
            let (name, tag) = (self.def.name.clone(), Arc::clone(&tag));
            Arc::new(move |line: &str| {
                let t = tag.lock().map(|t| t.clone()).unwrap_or_default();
                eprintln!("faasin serve: [{t}] {name}: {line}");
            })
        };
        let watchdog = match &self.def.lambda {
            Some(l) => Some(self.lambda_host(l.body_event)),
            None => f.stdio.then(|| self.watchdog()),
        };
        let mut instance = {
            let mut guard = self.starter.guard.lock().unwrap_or_else(|p| p.into_inner());
            let at = Start {
                server: &self.starter.server,
                guard: &mut guard,
                docker: &self.starter.docker,
                container,
                log: Some(log),
            };
            Instance::start(watchdog.as_ref().unwrap_or(f), 0, at)?
        };
        instance.name = format!("function {:?}", self.def.name);
        let until = Instant::now() + ASK_TIMEOUT;
        while !instance.is_asking() {
            let left = until.saturating_duration_since(Instant::now());
            match wait_any(
                std::slice::from_mut(&mut instance),
                left.min(Duration::from_millis(100)),
            ) {
                Ok(Some((_, Event::Exited(st)))) => {
                    return Err(format!(
                        "function {:?} ended at its start ({st:?})",
                        self.def.name
                    ))
                }
                Err(e) => return Err(e),
                _ if left.is_zero() => {
                    self.starter.retire(instance, k);
                    return Err(format!(
                        "function {:?} did not ask for an invocation within {ASK_TIMEOUT:?} of its start",
                        self.def.name
                    ));
                }
                _ => {}
            }
        }
        self.metrics.cold_start(&self.def.name);
        Ok(Leased {
            instance,
            serial: k,
            tag,
            cold: true,
        })
    }

    /// A stdio function runs under the watchdog (`faasin __stdio -- argv`),
    /// a warm instance that runs the program afresh for every invocation.
    fn watchdog(&self) -> faasin_runner::chain::Function {
        let f = &self.def.function;
        let mut argv = vec![
            self.starter.exe.display().to_string(),
            faasin_runner::stdio_watchdog::SUBCOMMAND.to_string(),
            "--".to_string(),
        ];
        argv.extend(f.command.argv());
        faasin_runner::chain::Function {
            command: faasin_runner::chain::Command::Argv(argv),
            stdio: false,
            ..f.clone()
        }
    }

    /// A Lambda function's runtime runs under its host (`faasin __lambda`),
    /// a warm instance that serves it the Runtime API; in a container, the
    /// image's `/bin/faasin` is the host.
    fn lambda_host(&self, body_event: bool) -> faasin_runner::chain::Function {
        let f = &self.def.function;
        let exe = match f.image {
            Some(_) => "/bin/faasin".to_string(),
            None => self.starter.exe.display().to_string(),
        };
        let argv = crate::lambda_host::command(&exe, body_event, f.command.argv());
        faasin_runner::chain::Function {
            command: faasin_runner::chain::Command::Argv(argv),
            ..f.clone()
        }
    }

    /// Takes a lease back: an instance that finished its invocation and
    /// asks for the next one waits idle; any other is stopped.
    pub fn give_back(&self, mut l: Leased) {
        l.instance.refresh();
        l.cold = false;
        let mut st = self.state();
        if l.instance.is_asking() && l.instance.alive() && !st.closed {
            // Lines of a stopped instance still belong to its invocation.
            if let Ok(mut t) = l.tag.lock() {
                *t = "-".into();
            }
            st.idle.push(Idle {
                leased: l,
                since: Instant::now(),
            });
        } else {
            st.live -= 1;
            self.retire(l);
        }
        self.publish(&st);
        self.changed.notify_all();
    }

    fn retire(&self, l: Leased) {
        self.starter.retire(l.instance, l.serial);
    }

    /// Idle instances that died (or broke the protocol) meanwhile leave
    /// the pool.
    fn drop_dead(&self, st: &mut State) {
        let (fine, dead) = split_healthy(std::mem::take(&mut st.idle));
        st.idle = fine;
        st.live -= dead.len();
        dead.into_iter().for_each(|i| self.retire(i.leased));
    }

    /// Stops the instances idle for longer than the function's idle time,
    /// and those that died.
    pub fn reap(&self) {
        let mut st = self.state();
        self.drop_dead(&mut st);
        if self.def.joins {
            // Whoever started them decides how long they stay.
            self.publish(&st);
            return;
        }
        let idle = self.def.idle;
        let (old, young): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut st.idle)
            .into_iter()
            .partition(|i| i.since.elapsed() >= idle);
        st.idle = young;
        st.live -= old.len();
        old.into_iter().for_each(|i| self.retire(i.leased));
        self.publish(&st);
        self.changed.notify_all();
    }

    /// No more leases: idle instances are stopped now, leased ones when
    /// they come back.
    pub fn close(&self) {
        if let (true, Some(secret)) = (self.def.joins, &self.starter.join_secret) {
            self.starter
                .server
                .withdraw(&join_token(secret, &self.def.name));
        }
        let mut st = self.state();
        st.closed = true;
        let idle = std::mem::take(&mut st.idle);
        st.live -= idle.len();
        idle.into_iter().for_each(|i| self.retire(i.leased));
        self.publish(&st);
        self.changed.notify_all();
    }

    /// Instances alive or starting, and waiting leases.
    pub fn counts(&self) -> (usize, usize, usize) {
        let st = self.state();
        (st.idle.len(), st.live - st.idle.len(), st.waiting)
    }

    fn publish(&self, st: &State) {
        self.metrics.pool(
            &self.def.name,
            st.idle.len(),
            st.live - st.idle.len(),
            st.waiting,
        );
    }
}

/// What an instance of `function` presents to join.
fn join_token(secret: &str, function: &str) -> String {
    format!("{secret}/{function}")
}

/// Splits idle instances into those still waiting for an invocation and
/// those that are not (dead, or broke the protocol).
fn split_healthy(idle: Vec<Idle>) -> (Vec<Idle>, Vec<Idle>) {
    idle.into_iter()
        .map(|mut i| {
            i.leased.instance.refresh();
            i
        })
        .partition(|i| i.leased.instance.alive() && i.leased.instance.is_asking())
}

/// Who holds an end of an edge: the service itself, or an instance.
pub const SERVICE: u64 = u64::MAX;

/// Ring memory kept per edge between the same two parties (writer, reader)
/// and capacity: a new stream on used memory takes no page faults. Never
/// handed to other parties: a warm function keeps its mappings, and a kept
/// mapping can read what later flows through that memory. At most
/// [`RingCache::KEPT_BYTES`] are kept, the least recently kept going first:
/// with many instances, pairs are many.
#[derive(Default)]
pub struct RingCache {
    inner: Mutex<Kept>,
}

type Edge = (u64, u64, usize);

#[derive(Default)]
struct Kept {
    rings: HashMap<Edge, faasin::RingMemory>,
    /// Oldest first.
    order: std::collections::VecDeque<Edge>,
    bytes: usize,
}

impl RingCache {
    pub const KEPT_BYTES: usize = 64 << 20;

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memory the edge from `writer` to `reader` had, if any.
    pub fn take(&self, writer: u64, reader: u64, capacity: usize) -> Option<faasin::RingMemory> {
        let mut k = self.lock();
        let key = (writer, reader, capacity);
        let ring = k.rings.remove(&key)?;
        k.order.retain(|e| *e != key);
        k.bytes -= capacity;
        Some(ring)
    }

    /// Keeps an edge's memory; every end of its last stream must be closed.
    pub fn keep(&self, writer: u64, reader: u64, capacity: usize, ring: faasin::RingMemory) {
        let mut k = self.lock();
        let key = (writer, reader, capacity);
        if k.rings.insert(key, ring).is_some() {
            k.order.retain(|e| *e != key);
        } else {
            k.bytes += capacity;
        }
        k.order.push_back(key);
        while k.bytes > Self::KEPT_BYTES {
            let Some(old) = k.order.pop_front() else {
                break;
            };
            if k.rings.remove(&old).is_some() {
                k.bytes -= old.2;
            }
        }
    }

    /// Drops the memory of every edge an instance took part in.
    fn forget(&self, serial: u64) {
        let mut k = self.lock();
        let gone: Vec<Edge> = (k.rings.keys())
            .filter(|e| e.0 == serial || e.1 == serial)
            .copied()
            .collect();
        for e in gone {
            k.rings.remove(&e);
            k.bytes -= e.2;
        }
        k.order.retain(|e| e.0 != serial && e.1 != serial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_rings_stay_with_their_parties_and_under_the_bound() {
        let c = RingCache::default();
        let cap = 1 << 20;
        c.keep(1, 2, cap, faasin::RingMemory::new(cap).unwrap());
        assert!(
            c.take(2, 1, cap).is_none(),
            "only the same writer and reader"
        );
        assert!(c.take(1, 2, cap).is_some());
        assert!(c.take(1, 2, cap).is_none(), "taken once");
        let n = RingCache::KEPT_BYTES / cap + 5;
        for k in 0..n as u64 {
            c.keep(SERVICE, k, cap, faasin::RingMemory::new(cap).unwrap());
        }
        assert_eq!(c.lock().bytes, RingCache::KEPT_BYTES);
        assert!(c.take(SERVICE, 0, cap).is_none(), "the oldest went first");
        assert!(c.take(SERVICE, n as u64 - 1, cap).is_some());
        c.forget(n as u64 - 2);
        assert!(c.take(SERVICE, n as u64 - 2, cap).is_none());
        assert_eq!(c.lock().bytes, RingCache::KEPT_BYTES - 2 * cap);
    }
}
