//! `GET /metrics`, in the Prometheus text format: invocations by target and
//! status, errors by kind, cold starts, queue depth and instances per
//! function, latency per target, and the bytes streamed in and out.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Invoked {
    target: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Named {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceState {
    function: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Target {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: String,
}

pub struct Metrics {
    registry: Registry,
    invocations: Family<Invoked, Counter>,
    errors: Family<Kind, Counter>,
    cold_starts: Family<Named, Counter>,
    queue: Family<Named, Gauge>,
    instances: Family<InstanceState, Gauge>,
    latency: Family<Target, Histogram>,
    bytes: Family<Direction, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("faasin");
        let invocations = Family::<Invoked, Counter>::default();
        let errors = Family::<Kind, Counter>::default();
        let cold_starts = Family::<Named, Counter>::default();
        let queue = Family::<Named, Gauge>::default();
        let instances = Family::<InstanceState, Gauge>::default();
        let latency = Family::<Target, Histogram>::new_with_constructor(|| {
            // 100 µs to about 105 s.
            Histogram::new(exponential_buckets(1e-4, 2.0, 21))
        });
        let bytes = Family::<Direction, Counter>::default();
        registry.register(
            "invocations",
            "Invocations by target and HTTP status",
            invocations.clone(),
        );
        registry.register(
            "invocation_errors",
            "Failed invocations by kind",
            errors.clone(),
        );
        registry.register(
            "cold_starts",
            "Instances started for an invocation",
            cold_starts.clone(),
        );
        registry.register(
            "queue_depth",
            "Invocations waiting for an instance",
            queue.clone(),
        );
        registry.register(
            "instances",
            "Instances by function and state",
            instances.clone(),
        );
        registry.register(
            "invocation_duration_seconds",
            "Time from request to the end of the response",
            latency.clone(),
        );
        registry.register(
            "stream_bytes",
            "Bytes streamed into chains and out of them",
            bytes.clone(),
        );
        Metrics {
            registry,
            invocations,
            errors,
            cold_starts,
            queue,
            instances,
            latency,
            bytes,
        }
    }

    /// An invocation ended with HTTP status `code` after `seconds`.
    pub fn invoked(&self, target: &str, code: u16, seconds: f64) {
        let labels = Invoked {
            target: target.into(),
            code: code.to_string(),
        };
        self.invocations.get_or_create(&labels).inc();
        let t = Target {
            target: target.into(),
        };
        self.latency.get_or_create(&t).observe(seconds);
    }

    pub fn error(&self, kind: &str) {
        self.errors.get_or_create(&Kind { kind: kind.into() }).inc();
    }

    pub fn cold_start(&self, function: &str) {
        let f = Named {
            function: function.into(),
        };
        self.cold_starts.get_or_create(&f).inc();
    }

    /// A function's pool now: idle and leased instances, waiting leases.
    pub fn pool(&self, function: &str, idle: usize, leased: usize, waiting: usize) {
        for (state, n) in [("idle", idle), ("busy", leased)] {
            let labels = InstanceState {
                function: function.into(),
                state: state.into(),
            };
            self.instances.get_or_create(&labels).set(n as i64);
        }
        let f = Named {
            function: function.into(),
        };
        self.queue.get_or_create(&f).set(waiting as i64);
    }

    /// Bytes fed into a chain's first ring and read from its last.
    pub fn streamed(&self, input: u64, output: u64) {
        for (direction, n) in [("in", input), ("out", output)] {
            let d = Direction {
                direction: direction.into(),
            };
            self.bytes.get_or_create(&d).inc_by(n);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
