//! The API's Prometheus registry: HTTP request counters and latency histograms by route, method and
//! status, publish decisions, the sessions the ingest reports (events, ends, reconnects, broken
//! limits, time to first frame and to HLS ready) and webhook deliveries. One registry per
//! `ApiContext`, no globals, so several instances (tests) do not mix their figures. Labels are small
//! fixed sets: never a stream id, a key or a free-form string from a peer. The HTTP side (the
//! request-counting middleware and `GET /metrics`) lives in `http::metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub result: String,
    pub reason_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViolationLabels {
    pub limit: &'static str,
    pub action: &'static str,
}

/// The `reason` label of a session end: the known reasons, `other` for anything else (a newer
/// ingest's reason does not grow the series without bound). `kicked:<why>` counts as `<why>`.
pub fn end_reason_label(reason: &str) -> &'static str {
    inlet_contract::session::EndReason::parse(reason).map_or("other", |r| r.as_str())
}

/// The `limit` label of a broken limit: the limits the streams have, `other` for anything else.
pub fn limit_label(limit: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "max_bitrate_kbps",
        "max_keyframe_interval_ms",
        "warn_keyframe_interval_ms",
        "max_width",
        "max_height",
        "max_fps",
        "video_codecs",
        "audio_codecs",
    ];
    KNOWN
        .iter()
        .find(|k| **k == limit)
        .copied()
        .unwrap_or("other")
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    /// Publish attempts by result (`accepted`, `refused`) and reason code.
    pub publish_attempts: Family<AttemptLabels, Counter>,
    /// Time the API spends deciding a publish.
    pub authorize_duration: Histogram,
    /// Authorize calls refused during an address's brute-force cool-down (no database lookup).
    pub authorize_throttled: Counter,
    /// Session events received from ingest nodes, by type (retries included).
    pub session_events: Family<TypeLabels, Counter>,
    /// Sessions ended, by reason (each session once).
    pub sessions_ended: Family<ReasonLabels, Counter>,
    /// Publishes that continued an open session (a reconnect within the window or a takeover).
    pub reconnects: Counter,
    /// Broken limits reported by the ingest, by limit and action (each report once).
    pub limits_violations: Family<ViolationLabels, Counter>,
    /// From the session's start to its first frame.
    pub time_to_first_frame: Histogram,
    /// From the session's start to its first HLS segment.
    pub time_to_hls_ready: Histogram,
    /// Open sessions (live or reconnecting), set from the database at each scrape.
    pub live_sessions: Gauge,
    /// Open sessions whose publisher is gone, within its reconnect window, set at each scrape.
    pub reconnecting_sessions: Gauge,
    /// Webhook delivery attempts by result (`succeeded`, `failed` (will retry), `exhausted`, `gone`).
    pub webhook_deliveries: Family<ResultLabels, Counter>,
    /// Time of one delivery attempt (request to answer).
    pub webhook_attempt_duration: Histogram,
    /// From an event's commit to its successful delivery.
    pub webhook_delivery_lag: Histogram,
    /// Pending deliveries of all tenants, set at each scrape.
    pub webhook_backlog: Gauge,
    /// Age of the oldest due delivery, seconds, set at each scrape.
    pub webhook_oldest_due: Gauge<f64, std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("inlet_api");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_duration.clone(),
        );
        let publish_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "publish_attempts",
            "Publish attempts decided, by result and reason code",
            publish_attempts.clone(),
        );
        let authorize_duration = Histogram::new([
            0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
        ]);
        registry.register(
            "authorize_duration_seconds",
            "Publish authorization latency inside the API",
            authorize_duration.clone(),
        );
        let authorize_throttled = Counter::default();
        registry.register(
            "authorize_throttled",
            "Publish authorizations refused during a brute-force cool-down",
            authorize_throttled.clone(),
        );
        let session_events = Family::<TypeLabels, Counter>::default();
        registry.register(
            "session_events",
            "Session events received from ingest nodes, by type",
            session_events.clone(),
        );
        let sessions_ended = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "sessions_ended",
            "Publish sessions ended, by reason",
            sessions_ended.clone(),
        );
        let reconnects = Counter::default();
        registry.register(
            "reconnects",
            "Publishes that continued an open session (reconnect within the window, or takeover)",
            reconnects.clone(),
        );
        let limits_violations = Family::<ViolationLabels, Counter>::default();
        registry.register(
            "limits_violations",
            "Broken stream limits reported by the ingest, by limit and action",
            limits_violations.clone(),
        );
        let startup_buckets = [
            0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0,
        ];
        let time_to_first_frame = Histogram::new(startup_buckets);
        registry.register(
            "time_to_first_frame_seconds",
            "Time from a session's start (publish accepted) to its first media frame",
            time_to_first_frame.clone(),
        );
        let time_to_hls_ready = Histogram::new(startup_buckets);
        registry.register(
            "time_to_hls_ready_seconds",
            "Time from a session's start (publish accepted) to its first HLS segment",
            time_to_hls_ready.clone(),
        );
        let live_sessions = Gauge::default();
        registry.register(
            "live_sessions",
            "Open publish sessions, live or reconnecting",
            live_sessions.clone(),
        );
        let reconnecting_sessions = Gauge::default();
        registry.register(
            "reconnecting_sessions",
            "Open publish sessions waiting for their publisher within the reconnect window",
            reconnecting_sessions.clone(),
        );
        let webhook_deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result",
            webhook_deliveries.clone(),
        );
        let webhook_attempt_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
        ]);
        registry.register(
            "webhook_attempt_duration_seconds",
            "Time of one webhook delivery attempt, request to answer",
            webhook_attempt_duration.clone(),
        );
        let webhook_delivery_lag = Histogram::new([
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0, 86_400.0,
        ]);
        registry.register(
            "webhook_delivery_latency_seconds",
            "Time from an event's commit to its successful delivery (retries included)",
            webhook_delivery_lag.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "webhook_outbox_backlog",
            "Pending webhook deliveries (due or scheduled for a retry)",
            webhook_backlog.clone(),
        );
        let webhook_oldest_due = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "webhook_outbox_oldest_age_seconds",
            "Age of the oldest due webhook delivery",
            webhook_oldest_due.clone(),
        );
        Metrics {
            registry,
            webhook_deliveries,
            webhook_attempt_duration,
            webhook_delivery_lag,
            webhook_backlog,
            webhook_oldest_due,
            http_requests,
            http_duration,
            publish_attempts,
            authorize_duration,
            authorize_throttled,
            session_events,
            sessions_ended,
            reconnects,
            limits_violations,
            time_to_first_frame,
            time_to_hls_ready,
            live_sessions,
            reconnecting_sessions,
        }
    }
}

impl Metrics {
    pub fn publish_attempt(&self, result: &str, reason_code: &str) {
        self.publish_attempts
            .get_or_create(&AttemptLabels {
                result: result.to_string(),
                reason_code: reason_code.to_string(),
            })
            .inc();
    }

    pub fn session_event(&self, kind: &'static str) {
        self.session_events
            .get_or_create(&TypeLabels { r#type: kind })
            .inc();
    }

    pub fn session_ended(&self, reason: &'static str) {
        self.sessions_ended
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn limits_violation(&self, limit: &str, action: &'static str) {
        self.limits_violations
            .get_or_create(&ViolationLabels {
                limit: limit_label(limit),
                action,
            })
            .inc();
    }

    pub fn webhook_delivery(&self, result: &'static str, seconds: f64) {
        self.webhook_deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
        self.webhook_attempt_duration.observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}
