//! Prometheus metrics: what an operator graphs and alerts on. Requests and their latency by route
//! and status, "Check my work" runs by verdict and duration, cluster errors by kind, the database
//! pool and query latency, and active sessions; names follow Prometheus conventions (`lectern_`
//! prefix, base units, `_total` on counters). Served as OpenMetrics text at `/metrics`, or on a
//! separate address (`--metrics-address`).
//!
//! Each [`Metrics`] has its own registry, except query latency: sqlx reports each statement's
//! duration as a `tracing` event, which [`QueryTimer`] (a layer `main` installs) turns into one
//! histogram per process.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sqlx::AnyPool;

/// Request latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Query latency buckets, in seconds: 50 µs to 1 s.
const QUERY_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0,
];

fn request_latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every statement's duration in this process, as sqlx reports it (see [`QueryTimer`]).
static QUERY_SECONDS: LazyLock<Histogram> = LazyLock::new(|| Histogram::new(QUERY_BUCKETS));

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's pattern (`/modules/{id}`), never the raw path: a bounded set.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    verdict: String,
    via: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's metrics, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Latencies<RequestLabels>,
    checks: Latencies<CheckLabels>,
    cluster_errors: Family<KindLabels, Counter>,
    connections: Family<StateLabels, Gauge>,
    sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lectern");
        let requests = Latencies::<RequestLabels>::new_with_constructor(request_latency);
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route pattern and status, and how long they took",
            requests.clone(),
        );
        let checks = Latencies::<CheckLabels>::new_with_constructor(request_latency);
        registry.register(
            "check_run_duration_seconds",
            "Check my work runs by verdict (passed, failed, error) and cluster (bridge, assigned, server), and how long they took",
            checks.clone(),
        );
        let cluster_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "cluster_errors",
            "Checks, runs and preflights that could not ask the cluster, by kind (unreachable, timeout, tls, unauthorized, ...)",
            cluster_errors.clone(),
        );
        let connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database pool connections by state (idle, in_use) and the pool's maximum (max)",
            connections.clone(),
        );
        registry.register(
            "db_query_duration_seconds",
            "Database statements of this process, and how long each took",
            QUERY_SECONDS.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "active_sessions",
            "Signed-in sessions used within the idle timeout (the whole portal's, from the database)",
            sessions.clone(),
        );
        Self {
            registry,
            requests,
            checks,
            cluster_errors,
            connections,
            sessions,
        }
    }

    /// One HTTP request answered. Every label comes from a fixed set, so no client can grow the
    /// series: a method outside HTTP's standard ones counts as `other` (the route is a pattern of
    /// the router, or `unmatched`).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT"
            | "TRACE" => method,
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// One "Check my work" run finished with `verdict`, asking the cluster `via`.
    pub fn observe_check(&self, verdict: &str, via: &str, took: Duration) {
        self.checks
            .get_or_create(&CheckLabels {
                verdict: verdict.to_owned(),
                via: via.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The cluster could not be asked, for this `kind` of reason.
    pub fn count_cluster_error(&self, kind: &str) {
        self.cluster_errors
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The metrics as OpenMetrics text, with the gauges read now: the pool's connections, and
    /// the sessions used within `idle`. Answered from memory when the database does not answer
    /// within a second (the sessions gauge keeps its last value), so an outage is measured rather
    /// than hiding every metric for as long as it lasts.
    pub async fn render(&self, pool: &AnyPool, idle: Duration) -> String {
        let idle_connections = pool.num_idle() as i64;
        let open = i64::from(pool.size());
        for (state, value) in [
            ("idle", idle_connections),
            ("in_use", (open - idle_connections).max(0)),
            ("max", i64::from(pool.options().get_max_connections())),
        ] {
            self.connections
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(value);
        }
        let sessions =
            tokio::time::timeout(SESSIONS_TIMEOUT, crate::auth::active_sessions(pool, idle)).await;
        match sessions {
            Ok(Ok(count)) => {
                self.sessions.set(count as i64);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: active sessions not counted"),
            Err(_) => tracing::warn!("metrics: the database did not count active sessions in time"),
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// How long a scrape waits for the database to count sessions.
const SESSIONS_TIMEOUT: Duration = Duration::from_secs(1);

/// A `tracing` layer that records the duration of every database statement: sqlx reports each
/// one as an event on the `sqlx::query` target with `elapsed_secs`. `main` installs it with its
/// own filter (`sqlx::query=debug`), so these events reach it without reaching the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryTimer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QueryTimer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            event.record(&mut ElapsedSeconds);
        }
    }
}

/// Reads `elapsed_secs` from a sqlx statement event into [`QUERY_SECONDS`].
struct ElapsedSeconds;

impl tracing::field::Visit for ElapsedSeconds {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            QUERY_SECONDS.observe(value);
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}
