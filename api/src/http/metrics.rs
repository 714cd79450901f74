//! Prometheus metrics of the API: HTTP request counters and latency histograms by route, method and
//! status, rendered as Prometheus text at `GET /metrics`. One registry per `ApiContext`, no globals,
//! so several instances (tests) do not mix their figures.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::ApiContext;

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
        Metrics {
            registry,
            http_requests,
            http_duration,
            publish_attempts,
            authorize_duration,
            authorize_throttled,
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// Middleware counting every request by its route template (never the raw path: ids stay out of labels).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics
        .http_duration
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn render(State(ctx): State<ApiContext>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        ctx.metrics.render(),
    )
}
