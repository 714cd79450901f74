//! The internal API the ingest calls (`/internal/v1`, SPEC §5), authenticated with the node secret
//! (`Authorization: Bearer <INLET_NODE_SECRET>`, compared in constant time). Not part of the public
//! OpenAPI document.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inlet_contract::publish::{AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse};
use inlet_contract::session::{SESSION_EVENTS_PATH, SessionEventKind, SessionEvents};

use super::ApiContext;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::domain::credentials;

pub fn router(ctx: ApiContext) -> Router<ApiContext> {
    Router::new()
        .route(AUTHORIZE_PATH, post(authorize))
        .route(SESSION_EVENTS_PATH, post(session_events))
        .layer(from_fn_with_state(ctx, require_node))
}

async fn require_node(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let Some(secret) = ctx.config.node_secret.as_deref() else {
        return ApiError::Forbidden(
            "The internal API is off: INLET_NODE_SECRET is not set on the API.".into(),
        )
        .into_response();
    };
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| credentials::ct_eq_str(p, secret)) {
        return ApiError::Unauthorized(
            "Internal calls need `Authorization: Bearer <INLET_NODE_SECRET>`.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

async fn authorize(
    State(ctx): State<ApiContext>,
    JsonBody(req): JsonBody<AuthorizeRequest>,
) -> Result<axum::Json<AuthorizeResponse>, ApiError> {
    Ok(axum::Json(crate::authorize::authorize(&ctx, &req).await?))
}

/// Applies session events in order, in one transaction; each is idempotent, so a retried batch is
/// harmless. Answers 204 once they are stored.
async fn session_events(
    State(ctx): State<ApiContext>,
    JsonBody(batch): JsonBody<SessionEvents>,
) -> Result<axum::http::StatusCode, ApiError> {
    use crate::store::sessions_live as live;
    let mut tx = ctx.db.begin().await?;
    for e in &batch.events {
        let (s, t, st) = (e.session_id, e.tenant_id, e.stream_id);
        match &e.kind {
            SessionEventKind::Connected => {
                live::connected(&mut tx, s, t, st, &e.node_id, e.at).await?
            }
            SessionEventKind::HlsReady { hls_url } => {
                live::hls_ready(&mut tx, s, t, st, hls_url, e.at).await?
            }
            SessionEventKind::Ended { reason } => {
                live::ended(&mut tx, s, t, st, reason, e.at).await?
            }
        }
        tracing::info!(session = %s, stream = %st, node = %e.node_id, event = ?e.kind, "session event");
    }
    tx.commit().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
