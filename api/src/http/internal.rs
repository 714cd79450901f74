//! The internal API the ingest calls (`/internal/v1`, docs/api.md, "Internal API"), authenticated
//! with the node secret (`Authorization: Bearer <INLET_NODE_SECRET>`, compared in constant time).
//! Not part of the public OpenAPI document.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inlet_contract::publish::{AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse};
use inlet_contract::session::{
    Disconnect, EndReason, HEARTBEAT_PATH, Heartbeat, HeartbeatAnswer, SESSION_EVENTS_PATH,
    SessionEventKind, SessionEvents,
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

/// What a batch did, for the metrics (counted once the batch is stored).
#[derive(Default)]
struct Observed {
    events: Vec<&'static str>,
    ended: Vec<&'static str>,
    first_frame: Vec<f64>,
    hls_ready: Vec<f64>,
    violations: Vec<(String, &'static str)>,
}

fn event_type(kind: &SessionEventKind) -> &'static str {
    match kind {
        SessionEventKind::Connected { .. } => "connected",
        SessionEventKind::FirstFrame => "first_frame",
        SessionEventKind::HlsReady { .. } => "hls_ready",
        SessionEventKind::Health(_) => "health",
        SessionEventKind::LimitsViolation(_) => "limits_violation",
        SessionEventKind::Disconnected { .. } => "disconnected",
        SessionEventKind::Ended { .. } => "ended",
    }
}

/// Applies session events in order, in one transaction; each is idempotent, so a retried batch is
/// harmless, and each applies only if it comes from the node the session is on now. Answers 204
/// once they are stored.
async fn session_events(
    State(ctx): State<ApiContext>,
    JsonBody(batch): JsonBody<SessionEvents>,
) -> Result<axum::http::StatusCode, ApiError> {
    use crate::store::sessions_live as live;
    let mut tx = ctx.db.begin().await?;
    // Every writer of a stream's events takes the stream's row first (the live claim, the API's
    // handlers, `inlet_session_end`); a batch takes all of its streams' rows up front, in id
    // order, so that it never waits on a row while holding a session's or a sequence's lock.
    let mut streams: Vec<uuid::Uuid> = batch.events.iter().map(|e| e.stream_id).collect();
    streams.sort();
    streams.dedup();
    live::lock_streams(&mut tx, &streams).await?;
    let mut seen = Observed::default();
    for e in &batch.events {
        let r = live::SessionRef {
            session: e.session_id,
            tenant: e.tenant_id,
            stream: e.stream_id,
            node: Some(&e.node_id),
        };
        seen.events.push(event_type(&e.kind));
        match &e.kind {
            SessionEventKind::Connected { resumed } => {
                live::connected(&mut tx, r, *resumed, e.at).await?
            }
            SessionEventKind::FirstFrame => {
                if let Some(secs) = live::first_frame(&mut tx, r, e.at).await? {
                    seen.first_frame.push(secs);
                }
            }
            SessionEventKind::HlsReady { hls_url } => {
                if let Some(secs) = live::hls_ready(&mut tx, r, hls_url, e.at).await? {
                    seen.hls_ready.push(secs);
                }
            }
            SessionEventKind::Health(h) => {
                if let Some(n) = live::health(&mut tx, r, h, e.at).await?
                    && i64::from(n) > live::HEALTH_PER_SESSION
                    && n % 50 == 0
                {
                    live::prune_health(&mut tx, e.session_id).await?;
                }
            }
            SessionEventKind::LimitsViolation(v) => {
                if live::limits_violation(&mut tx, r, v, e.at).await? {
                    seen.violations
                        .push((v.limit.clone(), live::action_str(v.action)));
                }
            }
            SessionEventKind::Disconnected { reason } => {
                live::disconnected(&mut tx, r, reason, e.at).await?
            }
            SessionEventKind::Ended { reason } => {
                if live::ended(&mut tx, r, reason, e.at).await? {
                    seen.ended.push(crate::metrics::end_reason_label(reason));
                }
            }
        }
        if !matches!(e.kind, SessionEventKind::Health(_)) {
            tracing::info!(session = %e.session_id, stream = %e.stream_id, node = %e.node_id, event = ?e.kind, "session event");
        }
    }
    tx.commit().await?;
    let m = &ctx.metrics;
    seen.events.into_iter().for_each(|t| m.session_event(t));
    seen.ended.into_iter().for_each(|r| m.session_ended(r));
    // A clock skew between ingest and API can make a duration negative: count it as 0.
    for s in seen.first_frame {
        m.time_to_first_frame.observe(s.max(0.0));
    }
    for s in seen.hls_ready {
        m.time_to_hls_ready.observe(s.max(0.0));
    }
    for (limit, action) in seen.violations {
        m.limits_violation(&limit, action);
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// What the encoder is told when its session is cut, by reason.
fn cut_description(reason: &str) -> &'static str {
    match EndReason::parse(reason) {
        Some(EndReason::KeyRevoked) => {
            "This stream key was revoked; copy the current key from the dashboard."
        }
        Some(EndReason::KeyRotated) => {
            "This stream key was rotated and the live publisher disconnected; use the new key."
        }
        Some(EndReason::StreamDisabled) => "This stream was disabled.",
        Some(EndReason::StreamDeleted) => "This stream was deleted.",
        Some(EndReason::Takeover) => {
            "Another connection with the same credentials took over this stream."
        }
        Some(EndReason::TenantSuspended) => "This account is suspended; contact support.",
        _ => "The control plane ended this session.",
    }
}

/// A node's heartbeat: records it alive, ends its sessions it no longer reports, and answers which
/// of its live sessions to cut.
async fn heartbeat(
    State(ctx): State<ApiContext>,
    JsonBody(hb): JsonBody<Heartbeat>,
) -> Result<axum::Json<HeartbeatAnswer>, ApiError> {
    use crate::store::{nodes, sessions_live as live};
    let mut tx = ctx.db.begin().await?;
    nodes::seen(&mut tx, &hb.node_id, &hb.version, &hb.endpoints).await?;
    let reported: Vec<uuid::Uuid> = hb.sessions.iter().map(|s| s.session_id).collect();
    let mut ended = 0;
    for (session, tenant, stream) in nodes::unreported(&mut tx, &hb.node_id, &reported).await? {
        let r = live::SessionRef {
            session,
            tenant,
            stream,
            node: Some(&hb.node_id),
        };
        if live::ended(
            &mut tx,
            r,
            EndReason::NodeRestarted.as_str(),
            chrono::Utc::now(),
        )
        .await?
        {
            ended += 1;
        }
    }
    let cut = nodes::disconnects(&mut tx, &hb.node_id, &hb.sessions).await?;
    tx.commit().await?;
    for _ in 0..ended {
        ctx.metrics.session_ended(EndReason::NodeRestarted.as_str());
    }
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
