//! Liveness (`/healthz`), readiness (`/readyz`, checks the database) and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::ApiContext;

pub async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

pub async fn readyz(State(ctx): State<ApiContext>) -> impl IntoResponse {
    let db = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&ctx.db),
    )
    .await;
    match db {
        Ok(Ok(_)) => (
            StatusCode::OK,
            axum::Json(json!({"status": "ready", "database": "ok"})),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable", "database": "timeout"})),
        ),
    }
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi(State(ctx): State<ApiContext>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ctx.openapi.as_str().to_owned(),
    )
}
