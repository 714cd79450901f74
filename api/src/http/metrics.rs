//! The HTTP side of the metrics (see `crate::metrics` for the registry): the middleware that counts
//! every request by route template, and `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::ApiContext;
use crate::metrics::{HttpLabels, Metrics, RouteLabels};

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

/// `GET /metrics`: Prometheus text exposition. The session gauges are read from the database (they
/// are the cluster's figures, whichever API replica is scraped); if it does not answer within 2 s
/// they keep their last value.
pub async fn render(State(ctx): State<ApiContext>) -> impl IntoResponse {
    let counts = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::store::sessions_live::open_counts(&ctx.db),
    )
    .await;
    match counts {
        Ok(Ok((open, reconnecting))) => {
            ctx.metrics.live_sessions.set(open);
            ctx.metrics.reconnecting_sessions.set(reconnecting);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: session counts not read"),
        Err(_) => tracing::warn!("metrics: session counts not read within 2 s"),
    }
    let backlog = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::store::webhooks::backlog(&ctx.db),
    )
    .await;
    match backlog {
        Ok(Ok((pending, oldest))) => {
            ctx.metrics.webhook_backlog.set(pending);
            ctx.metrics.webhook_oldest_due.set(oldest);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: webhook backlog not read"),
        Err(_) => tracing::warn!("metrics: webhook backlog not read within 2 s"),
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        ctx.metrics.render(),
    )
}
