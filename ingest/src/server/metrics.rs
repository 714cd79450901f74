//! Prometheus metrics of the ingest, one registry per process (no globals).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
    pub reason_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

pub struct IngestMetrics {
    registry: Registry,
    pub connections: Counter,
    pub connections_refused: Family<ReasonLabels, Counter>,
    pub connections_closed: Family<ReasonLabels, Counter>,
    pub publish_attempts: Family<ResultLabels, Counter>,
    pub live_sessions: Gauge,
    pub ingested_bytes: Counter,
    /// TCP accept → NetStream.Publish.Start.
    pub accept_latency: Histogram,
    /// Authorize round trip to the API.
    pub authorize_latency: Histogram,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("inlet_ingest");
        let connections = Counter::default();
        registry.register(
            "connections",
            "RTMP/RTMPS connections accepted",
            connections.clone(),
        );
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections refused before the handshake (limits)",
            connections_refused.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections closed, by reason",
            connections_closed.clone(),
        );
        let publish_attempts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "publish_attempts",
            "Publish attempts by result and reason code",
            publish_attempts.clone(),
        );
        let live_sessions = Gauge::default();
        registry.register(
            "live_sessions",
            "Publish sessions live on this node",
            live_sessions.clone(),
        );
        let ingested_bytes = Counter::default();
        registry.register(
            "ingested_bytes",
            "Bytes received from publishers",
            ingested_bytes.clone(),
        );
        let buckets = [
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let accept_latency = Histogram::new(buckets);
        registry.register(
            "publish_accept_seconds",
            "TCP accept to NetStream.Publish.Start",
            accept_latency.clone(),
        );
        let authorize_latency = Histogram::new(buckets);
        registry.register(
            "authorize_seconds",
            "Authorize round trip to the API",
            authorize_latency.clone(),
        );
        IngestMetrics {
            registry,
            connections,
            connections_refused,
            connections_closed,
            publish_attempts,
            live_sessions,
            ingested_bytes,
            accept_latency,
            authorize_latency,
        }
    }
}

impl IngestMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }

    pub fn closed(&self, reason: &str) {
        self.connections_closed
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn attempt(&self, result: &str, reason_code: &str) {
        self.publish_attempts
            .get_or_create(&ResultLabels {
                result: result.to_string(),
                reason_code: reason_code.to_string(),
            })
            .inc();
    }
}
