//! The ingest's HTTP endpoints: liveness, readiness and Prometheus metrics.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::IngestMetrics;

fn router(metrics: Arc<IngestMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(status("ok")) }))
        .route("/readyz", get(|| async { axum::Json(status("ready")) }))
        .route("/metrics", get(render))
        .with_state(metrics)
}

fn status(status: &str) -> std::collections::BTreeMap<&'static str, String> {
    std::collections::BTreeMap::from([("status", status.to_string())])
}

async fn render(State(metrics): State<Arc<IngestMetrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Serves the ingest's HTTP endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<IngestMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "inlet-ingest HTTP listening");
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
