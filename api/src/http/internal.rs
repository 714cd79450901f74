//! The internal API the ingest calls (`/internal/v1`, SPEC §5), authenticated with the node secret
//! (`Authorization: Bearer <INLET_NODE_SECRET>`, compared in constant time). Not part of the public
//! OpenAPI document.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inlet_contract::publish::{AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse};
use inlet_contract::session::{
    Disconnect, HEARTBEAT_PATH, Heartbeat, HeartbeatAnswer, SESSION_EVENTS_PATH, SessionEventKind,
    SessionEvents,
};

use super::ApiContext;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::domain::credentials;

pub fn router(ctx: ApiContext) -> Router<ApiContext> {
    Router::new()
        .route(AUTHORIZE_PATH, post(authorize))
        .route(SESSION_EVENTS_PATH, post(session_events))
        .route(HEARTBEAT_PATH, post(heartbeat))
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

/// What the encoder is told when its session is cut, by reason.
fn cut_description(reason: &str) -> &'static str {
    match reason {
        "key_revoked" => "This stream key was revoked; copy the current key from the dashboard.",
        "key_rotated" => {
            "This stream key was rotated and the live publisher disconnected; use the new key."
        }
        "stream_disabled" => "This stream was disabled.",
        "stream_deleted" => "This stream was deleted.",
        "takeover" => "Another connection with the same credentials took over this stream.",
        "tenant_suspended" => "This account is suspended; contact support.",
        _ => "The control plane ended this session.",
    }
}

/// A node's heartbeat: records it alive, ends its sessions it no longer reports, and answers which
/// of its live sessions to cut.
async fn heartbeat(
    State(ctx): State<ApiContext>,
    JsonBody(hb): JsonBody<Heartbeat>,
) -> Result<axum::Json<HeartbeatAnswer>, ApiError> {
    use crate::store::{nodes, sessions_live};
    let mut tx = ctx.db.begin().await?;
    nodes::seen(&mut tx, &hb.node_id, &hb.version).await?;
    let reported: Vec<uuid::Uuid> = hb.sessions.iter().map(|s| s.session_id).collect();
    for (session, tenant, stream) in nodes::unreported(&mut tx, &hb.node_id, &reported).await? {
        sessions_live::ended(
            &mut tx,
            session,
            tenant,
            stream,
            "node_restarted",
            chrono::Utc::now(),
        )
        .await?;
    }
    let cut = nodes::disconnects(&mut tx, &hb.sessions).await?;
    tx.commit().await?;
    let disconnect = cut
        .into_iter()
        .map(|(session_id, reason)| Disconnect {
            session_id,
            description: cut_description(&reason).into(),
            reason,
        })
        .collect();
    Ok(axum::Json(HeartbeatAnswer { disconnect }))
}

/// Ends the sessions of nodes that stopped heartbeating (`node_lost`), every few seconds, until the
/// process ends.
pub async fn sweep_lost_nodes(ctx: ApiContext) {
    use crate::store::{nodes, sessions_live};
    let every = std::time::Duration::from_secs(ctx.config.node_lost_secs.clamp(1, 5));
    loop {
        tokio::time::sleep(every).await;
        let swept = async {
            let lost = nodes::lost(&ctx.db, ctx.config.node_lost_secs as i64).await?;
            for (session, tenant, stream) in lost {
                let mut conn = ctx.db.acquire().await?;
                sessions_live::ended(
                    &mut conn,
                    session,
                    tenant,
                    stream,
                    "node_lost",
                    chrono::Utc::now(),
                )
                .await?;
                tracing::warn!(session = %session, stream = %stream, "session ended: its ingest node stopped heartbeating");
            }
            Ok::<_, sqlx::Error>(())
        };
        if let Err(e) = swept.await {
            tracing::warn!(error = %e, "lost-node sweep failed; will retry");
        }
    }
}
