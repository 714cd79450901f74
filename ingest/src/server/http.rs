//! The ingest's HTTP endpoints: liveness, readiness and Prometheus metrics.

use std::future::Future;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(status("ok")) }))
        .route("/readyz", get(|| async { axum::Json(status("ready")) }))
        .route("/metrics", get(metrics))
}

fn status(status: &str) -> std::collections::BTreeMap<&'static str, String> {
    std::collections::BTreeMap::from([("status", status.to_string())])
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        "# HELP inlet_ingest_up Whether the ingest process is running.\n# TYPE inlet_ingest_up gauge\ninlet_ingest_up 1\n",
    )
}

/// Serves the ingest's HTTP endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "inlet-ingest HTTP listening");
    axum::serve(listener, router()).with_graceful_shutdown(shutdown).await?;
    Ok(())
}
