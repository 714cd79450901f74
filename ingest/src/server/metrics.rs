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
pub struct ViolationLabels {
    pub limit: String,
    pub action: String,
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
    /// Publish accepted → first audio/video frame.
    pub time_to_first_frame: Histogram,
    /// Publish accepted → first playlist on disk.
    pub time_to_hls_ready: Histogram,
    /// Per-session bitrate, observed at every health report (kbit/s).
    pub session_bitrate: Histogram,
    /// Measured keyframe intervals, observed at every health report.
    pub keyframe_interval: Histogram,
    /// Publishes that continued a session (reconnect within the window, or takeover).
    pub reconnects: Counter,
    pub hls_segments: Counter,
    pub limits_violations: Family<ViolationLabels, Counter>,
    /// Sessions parked, waiting for their publisher to reconnect.
    pub reconnecting_sessions: Gauge,
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
        let slow = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0];
        let time_to_first_frame = Histogram::new(slow);
        registry.register(
            "time_to_first_frame_seconds",
            "Publish accepted to the first audio or video frame",
            time_to_first_frame.clone(),
        );
        let time_to_hls_ready = Histogram::new(slow);
        registry.register(
            "time_to_hls_ready_seconds",
            "Publish accepted to the first HLS playlist on disk",
            time_to_hls_ready.clone(),
        );
        let session_bitrate = Histogram::new([
            250.0, 500.0, 1000.0, 2000.0, 3000.0, 4500.0, 6000.0, 8000.0, 12000.0, 20000.0,
        ]);
        registry.register(
            "session_bitrate_kbps",
            "Per-session bitrate over the sliding window, observed at every health report",
            session_bitrate.clone(),
        );
        let keyframe_interval = Histogram::new([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0]);
        registry.register(
            "keyframe_interval_seconds",
            "Measured keyframe interval, observed at every health report",
            keyframe_interval.clone(),
        );
        let reconnects = Counter::default();
        registry.register(
            "reconnects",
            "Publishes that continued a session (reconnect within the window or takeover)",
            reconnects.clone(),
        );
        let hls_segments = Counter::default();
        registry.register("hls_segments", "HLS segments written", hls_segments.clone());
        let limits_violations = Family::<ViolationLabels, Counter>::default();
        registry.register(
            "limits_violations",
            "Stream limits broken, by limit and action (rejected or flagged)",
            limits_violations.clone(),
        );
        let reconnecting_sessions = Gauge::default();
        registry.register(
            "reconnecting_sessions",
            "Sessions waiting for their publisher within the reconnect window",
            reconnecting_sessions.clone(),
        );
        IngestMetrics {
            time_to_first_frame,
            time_to_hls_ready,
            session_bitrate,
            keyframe_interval,
            reconnects,
            hls_segments,
            limits_violations,
            reconnecting_sessions,
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

    /// A connection refused over a connection limit.
    pub fn refused(&self, reason: &str) {
        self.connections_refused
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
