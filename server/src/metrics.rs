//! Prometheus metrics, served as text at `/metrics`.
//!
//! One process-wide registry: every part of the server records into [`metrics()`] without
//! threading a handle through each call.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub http_connections: IntGauge,
    pub connections_refused: IntCounterVec,
    pub connections_timed_out: IntCounterVec,
    pub logins: IntCounterVec,
    pub active_sessions: IntGauge,
    pub ws_connections: IntGauge,
    pub ws_messages_in: IntCounterVec,
    pub ws_messages_out: IntCounter,
    pub ws_closed: IntCounterVec,
    pub events_published: IntCounter,
    pub fanout_lag: HistogramVec,
    pub agent_first_token: HistogramVec,
    pub agent_tokens: IntCounter,
    pub agent_tool_calls: IntCounterVec,
    pub agent_errors: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn metrics() -> &'static Metrics {
    &METRICS
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            // Names are unique constants below: registration cannot clash.
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                    labels,
                )
                .unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let gauge = |name: &str, help: &str| {
            reg(
                &registry,
                IntGauge::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let counter = |name: &str, help: &str| {
            reg(
                &registry,
                IntCounter::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        Self {
            http_requests: counter_vec(
                "http_requests_total",
                "HTTP requests by route, method and status",
                &["route", "method", "status"],
            ),
            http_latency: histogram(
                "http_request_duration_seconds",
                "HTTP request latency by route",
                &["route"],
            ),
            http_connections: gauge(
                "http_connections",
                "Open TCP connections (WebSockets included), counted against MAX_CONNECTIONS",
            ),
            connections_refused: counter_vec(
                "http_connections_refused_total",
                "Connections refused at accept, by limit (full, per_ip)",
                &["limit"],
            ),
            connections_timed_out: counter_vec(
                "http_connections_timed_out_total",
                "Connections closed by a timeout, by what was awaited (head, idle, write)",
                &["waiting"],
            ),
            logins: counter_vec("auth_logins_total", "Login attempts by result", &["result"]),
            active_sessions: gauge(
                "auth_active_sessions",
                "Sessions neither revoked nor expired",
            ),
            ws_connections: gauge(
                "ws_connections",
                "Open WebSocket connections on this instance",
            ),
            ws_messages_in: counter_vec(
                "ws_messages_in_total",
                "Client frames received by type",
                &["type"],
            ),
            ws_messages_out: counter("ws_messages_out_total", "Frames sent to sockets"),
            ws_closed: counter_vec("ws_closed_total", "Sockets closed by reason", &["reason"]),
            events_published: counter("todo_events_published_total", "Todo events fanned out"),
            fanout_lag: histogram(
                "fanout_lag_seconds",
                "Commit to hand-off to every local socket",
                &["source"],
            ),
            agent_first_token: histogram(
                "agent_first_token_seconds",
                "chat.send to first chat.delta",
                &["provider"],
            ),
            agent_tokens: counter("agent_deltas_total", "chat.delta frames streamed"),
            agent_tool_calls: counter_vec(
                "agent_tool_calls_total",
                "Tool calls by tool",
                &["tool"],
            ),
            agent_errors: counter_vec(
                "agent_errors_total",
                "Assistant turns that ended in error, by kind",
                &["kind"],
            ),
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
