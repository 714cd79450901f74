//! `/v1/streams`: create (with the first stream key, shown once), list, get, patch, delete, enable,
//! disable. Key rotation, tokens and attempts build on this in their own modules.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::error::{ApiError, Problem};
use super::extract::{
    ClientIp, Cursor, JsonBody, Page, PageQuery, Principal, QueryParams, path_uuid,
};
use super::sessions::{HealthView, SessionState};
use crate::config::ApiConfig;
use crate::domain::credentials::{self, Kind};
use crate::domain::limits::{ApplyPatch, Limits, LimitsPatch};
use crate::domain::validate::{self, Errors};
use crate::store;
use crate::store::events;
use crate::store::streams::{StatusFilter, StreamFields, StreamRow};
use inlet_contract::events::EventType;
use inlet_contract::session::EndReason;

/// How a publisher proves it may publish.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum AuthMode {
    /// The stream key alone.
    #[serde(rename = "key")]
    Key,
    /// A publish token alone.
    #[serde(rename = "token")]
    Token,
    /// Both: the publish name is `sk_…?token=<jwt>`.
    #[serde(rename = "key+token")]
    KeyAndToken,
}

impl AuthMode {
    fn as_str(self) -> &'static str {
        match self {
            AuthMode::Key => "key",
            AuthMode::Token => "token",
            AuthMode::KeyAndToken => "key+token",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Idle,
    Live,
    Disabled,
}

/// One protocol's OBS fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestEndpoint {
    /// What goes into OBS's Server field.
    pub server: String,
    /// The public start of the current stream key (the key itself is shown only once).
    pub stream_key_hint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ingest {
    pub rtmp: IngestEndpoint,
    pub rtmps: IngestEndpoint,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Playback {
    pub hls_url: String,
}

/// A stream (docs/api.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    pub id: Uuid,
    pub name: String,
    pub status: StreamStatus,
    pub enabled: bool,
    pub auth_mode: AuthMode,
    pub ingest: Ingest,
    /// Set once the first HLS segment is ready, `null` otherwise.
    pub playback: Option<Playback>,
    pub limits: Limits,
    pub ip_allowlist: Vec<String>,
    pub reconnect_window_seconds: i32,
    pub max_continuous_duration_seconds: i32,
    pub takeover: bool,
    pub recording: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_live_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The live publish session, when there is one.
    pub active_session: Option<ActiveSession>,
}

/// The publish session a stream is live on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveSession {
    pub id: Uuid,
    /// `live` (a publisher is connected) or `reconnecting` (it dropped; the session waits for it
    /// within `reconnect_window_seconds`, and the stream stays live with the same playback URL).
    pub state: SessionState,
    /// The ingest node the publisher is (or was last) connected to.
    pub node_id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When the first media frame arrived.
    pub first_frame_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the first HLS segment was ready.
    pub hls_ready_at: Option<chrono::DateTime<chrono::Utc>>,
    /// While `reconnecting`: when the publisher dropped.
    pub disconnected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How many times a publisher continued this session (reconnects, takeovers).
    pub reconnects: i32,
    /// The latest figures the ingest measured; `null` before its first report.
    pub health: Option<HealthView>,
}

impl StreamView {
    fn new(row: StreamRow, config: &ApiConfig) -> StreamView {
        let hint = row
            .current_key_id
            .as_deref()
            .map(|id| format!("{}…", credentials::prefix(Kind::StreamKey, id)));
        let status = match (row.enabled, row.live) {
            (false, _) => StreamStatus::Disabled,
            (true, true) => StreamStatus::Live,
            (true, false) => StreamStatus::Idle,
        };
        let auth_mode = match row.auth_mode.as_str() {
            "token" => AuthMode::Token,
            "key+token" => AuthMode::KeyAndToken,
            _ => AuthMode::Key,
        };
        StreamView {
            id: row.id,
            name: row.name,
            status,
            enabled: row.enabled,
            auth_mode,
            ingest: Ingest {
                rtmp: IngestEndpoint {
                    server: config.public_rtmp_url.clone(),
                    stream_key_hint: hint.clone(),
                },
                rtmps: IngestEndpoint {
                    server: config.public_rtmps_url.clone(),
                    stream_key_hint: hint,
                },
            },
            playback: row
                .hls_url
                .filter(|_| row.live)
                .map(|hls_url| Playback { hls_url }),
            limits: row.limits.0,
            ip_allowlist: row.ip_allowlist,
            reconnect_window_seconds: row.reconnect_window_seconds,
            max_continuous_duration_seconds: row.max_continuous_duration_seconds,
            takeover: row.takeover,
            recording: row.recording,
            created_at: row.created_at,
            last_live_at: row.last_live_at,
            active_session: row.session_id.map(|id| ActiveSession {
                id,
                state: SessionState::of(None, row.session_disconnected_at),
                node_id: row.session_node_id.unwrap_or_default(),
                started_at: row.session_started_at.unwrap_or(row.created_at),
                first_frame_at: row.session_first_frame_at,
                hls_ready_at: row.session_hls_ready_at,
                disconnected_at: row.session_disconnected_at,
                reconnects: row.session_reconnects.unwrap_or_default(),
                health: HealthView::latest(row.health),
            }),
        }
    }
}

/// Settable fields of a stream. On create `name` is required and absent fields take defaults; on
/// patch absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// 1–100 characters.
    pub name: Option<String>,
    /// A disabled stream refuses publishes.
    pub enabled: Option<bool>,
    pub auth_mode: Option<AuthMode>,
    /// Partial limits; absent fields come from the tenant's defaults (create) or stay (patch).
    pub limits: Option<LimitsPatch>,
    /// IPv4/IPv6 CIDRs or addresses; empty admits any address.
    pub ip_allowlist: Option<Vec<String>>,
    /// 0–3600 (default 30).
    pub reconnect_window_seconds: Option<i64>,
    /// 60–604800 (default 43200, 12 h).
    pub max_continuous_duration_seconds: Option<i64>,
    /// A new publish with valid credentials takes over a stale one (default true).
    pub takeover: Option<bool>,
    pub recording: Option<bool>,
}

impl StreamSettings {
    /// Applies these settings onto `fields`, collecting every invalid field.
    fn apply(&self, fields: &mut StreamFields) -> Result<(), ApiError> {
        let mut errors = Errors::default();
        if let Some(name) = &self.name {
            errors.name("name", name);
            fields.name = name.trim().to_string();
        }
        if let Some(v) = self.enabled {
            fields.enabled = v;
        }
        if let Some(v) = self.auth_mode {
            fields.auth_mode = v.as_str().to_string();
        }
        if let Some(patch) = &self.limits {
            fields.limits.apply(patch, &mut errors);
        }
        if let Some(list) = &self.ip_allowlist {
            fields.ip_allowlist = validate::ip_allowlist(&mut errors, "ip_allowlist", list);
        }
        if let Some(v) = self.reconnect_window_seconds {
            errors.range("reconnect_window_seconds", v, 0, 3600);
            fields.reconnect_window_seconds = v.clamp(0, 3600) as i32;
        }
        if let Some(v) = self.max_continuous_duration_seconds {
            errors.range("max_continuous_duration_seconds", v, 60, 604_800);
            fields.max_continuous_duration_seconds = v.clamp(60, 604_800) as i32;
        }
        if let Some(v) = self.takeover {
            fields.takeover = v;
        }
        if let Some(v) = self.recording {
            fields.recording = v;
        }
        ApiError::check(errors)
    }
}

/// `POST /v1/streams` answer: the stream and its first key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamCreated {
    pub stream: StreamView,
    /// The full stream key (`sk_<id>_<secret>`); paste it into OBS's Stream Key field.
    pub stream_key: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only streams with this status.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(attempts))
}

/// A publish attempt, accepted or refused (docs/api.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `accepted` or `refused`.
    pub result: String,
    /// The reason code of a refusal (docs/troubleshooting.md).
    pub reason_code: Option<String>,
    /// What the encoder was told.
    pub detail: String,
    pub client_ip: String,
    pub app: String,
    pub tls: bool,
    pub key_id: Option<String>,
    pub session_id: Option<Uuid>,
    pub node_id: String,
}

/// Publish attempts on this stream, newest first, with reason codes.
#[utoipa::path(get, path = "/v1/streams/{id}/attempts", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), PageQuery),
    responses((status = 200, body = Page<AttemptView>), (status = 404, body = Problem)))]
pub async fn attempts(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<AttemptView>>, ApiError> {
    let id = path_uuid(&id)?;
    load(&ctx, principal.tenant_id, id).await?;
    let limit = q.limit()?;
    let rows = store::publish::list(
        &ctx.db,
        principal.tenant_id,
        id,
        q.cursor()?.as_ref(),
        limit,
    )
    .await?;
    let views = rows
        .into_iter()
        .map(|r| AttemptView {
            id: r.id,
            at: r.at,
            result: r.result,
            reason_code: r.reason_code,
            detail: r.detail,
            client_ip: r.client_ip,
            app: r.app,
            tls: r.tls,
            key_id: r.key_id,
            session_id: r.session_id,
            node_id: r.node_id,
        })
        .collect();
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |a: &AttemptView| Cursor::encode(a.at, a.id),
    )))
}

async fn load(ctx: &ApiContext, tenant_id: Uuid, id: Uuid) -> Result<StreamView, ApiError> {
    let mut conn = ctx.db.acquire().await?;
    let row = store::streams::get(&mut conn, tenant_id, id, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(StreamView::new(row, &ctx.config))
}

/// Create a stream. The answer carries its stream key, shown once.
#[utoipa::path(post, path = "/v1/streams", tag = "streams", request_body = StreamSettings,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = StreamCreated), (status = 422, body = Problem)))]
pub async fn create(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<StreamSettings>,
) -> Result<(StatusCode, axum::Json<StreamCreated>), ApiError> {
    if body.name.is_none() {
        return Err(ApiError::field("name", "is required"));
    }
    let mut tx = ctx.db.begin().await?;
    let mut fields = StreamFields {
        name: String::new(),
        enabled: true,
        auth_mode: AuthMode::Key.as_str().to_string(),
        limits: store::tenants::default_limits(&mut tx, principal.tenant_id).await?,
        ip_allowlist: Vec::new(),
        reconnect_window_seconds: 30,
        max_continuous_duration_seconds: 43_200,
        takeover: true,
        recording: false,
    };
    body.apply(&mut fields)?;
    let playback_id = credentials::random_text(24);
    let id = store::streams::insert(&mut tx, principal.tenant_id, &fields, &playback_id).await?;
    let key = credentials::issue(Kind::StreamKey);
    store::streams::insert_key(&mut tx, principal.tenant_id, id, &key.id, &key.hash).await?;
    let row = store::streams::get(&mut tx, principal.tenant_id, id, false)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("created stream vanished")))?;
    // The first key is revealed in this answer: audited like a rotation.
    super::audit::record(
        &mut tx,
        &principal,
        ip,
        "stream.created",
        ("stream", &id.to_string()),
        serde_json::json!({"name": row.name, "key_id": key.id}),
    )
    .await?;
    events::stream_event(
        &mut tx,
        principal.tenant_id,
        id,
        None,
        EventType::StreamCreated,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, stream = %id, key_id = %key.id, by = %principal.describe(), "stream created");
    Ok((
        StatusCode::CREATED,
        axum::Json(StreamCreated {
            stream: StreamView::new(row, &ctx.config),
            stream_key: key.full,
        }),
    ))
}

/// List streams, newest first.
#[utoipa::path(get, path = "/v1/streams", tag = "streams", params(ListQuery),
    responses((status = 200, body = Page<StreamView>), (status = 422, body = Problem)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<axum::Json<Page<StreamView>>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let rows = store::streams::list(
        &ctx.db,
        principal.tenant_id,
        q.status,
        page.cursor()?.as_ref(),
        limit,
    )
    .await?;
    let views = rows
        .into_iter()
        .map(|r| StreamView::new(r, &ctx.config))
        .collect();
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |s: &StreamView| Cursor::encode(s.created_at, s.id),
    )))
}

/// One stream, with its status and playback when live.
#[utoipa::path(get, path = "/v1/streams/{id}", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 200, body = StreamView), (status = 404, body = Problem)))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<StreamView>, ApiError> {
    Ok(axum::Json(
        load(&ctx, principal.tenant_id, path_uuid(&id)?).await?,
    ))
}

async fn update_with(
    ctx: &ApiContext,
    principal: &Principal,
    ip: ClientIp,
    raw_id: &str,
    settings: &StreamSettings,
) -> Result<StreamView, ApiError> {
    let id = path_uuid(raw_id)?;
    let mut tx = ctx.db.begin().await?;
    let row = store::streams::get(&mut tx, principal.tenant_id, id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut fields = StreamFields {
        name: row.name,
        enabled: row.enabled,
        auth_mode: row.auth_mode,
        limits: row.limits.0,
        ip_allowlist: row.ip_allowlist,
        reconnect_window_seconds: row.reconnect_window_seconds,
        max_continuous_duration_seconds: row.max_continuous_duration_seconds,
        takeover: row.takeover,
        recording: row.recording,
    };
    let before = fields.clone();
    settings.apply(&mut fields)?;
    if before.enabled && !fields.enabled {
        store::keys::request_disconnect(&mut tx, principal.tenant_id, id, None, "stream_disabled")
            .await?;
    }
    store::streams::update(&mut tx, principal.tenant_id, id, &fields).await?;
    let changed = before.changed(&fields);
    if !changed.is_empty() {
        // Who changed what, with the values before and after (the security-relevant settings
        // among them: auth_mode, ip_allowlist, limits, enabled).
        let pick = |f: &StreamFields| {
            let all = serde_json::json!({
                "name": f.name, "enabled": f.enabled, "auth_mode": f.auth_mode, "limits": f.limits,
                "ip_allowlist": f.ip_allowlist, "reconnect_window_seconds": f.reconnect_window_seconds,
                "max_continuous_duration_seconds": f.max_continuous_duration_seconds,
                "takeover": f.takeover, "recording": f.recording,
            });
            let picked: serde_json::Map<String, serde_json::Value> = changed
                .iter()
                .filter_map(|k| all.get(*k).map(|v| ((*k).to_string(), v.clone())))
                .collect();
            serde_json::Value::Object(picked)
        };
        super::audit::record(
            &mut tx,
            principal,
            ip,
            "stream.updated",
            ("stream", &id.to_string()),
            serde_json::json!({"changed": changed, "before": pick(&before), "after": pick(&fields)}),
        )
        .await?;
    }
    let settings_changed: Vec<&str> = changed
        .iter()
        .copied()
        .filter(|f| *f != "enabled")
        .collect();
    if !settings_changed.is_empty() {
        events::stream_event(
            &mut tx,
            principal.tenant_id,
            id,
            None,
            EventType::StreamUpdated,
            serde_json::json!({"changed": settings_changed}),
        )
        .await?;
    }
    if before.enabled != fields.enabled {
        let kind = if fields.enabled {
            EventType::StreamEnabled
        } else {
            EventType::StreamDisabled
        };
        events::stream_event(
            &mut tx,
            principal.tenant_id,
            id,
            None,
            kind,
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, stream = %id, by = %principal.describe(), "stream updated");
    load(ctx, principal.tenant_id, id).await
}

/// Change a stream's name, limits, auth mode, allowlist, recording or enabled flag.
#[utoipa::path(patch, path = "/v1/streams/{id}", tag = "streams", request_body = StreamSettings,
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 200, body = StreamView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StreamSettings>,
) -> Result<axum::Json<StreamView>, ApiError> {
    Ok(axum::Json(
        update_with(&ctx, &principal, ip, &id, &body).await?,
    ))
}

/// Delete a stream and its keys.
#[utoipa::path(delete, path = "/v1/streams/{id}", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_uuid(&id)?;
    let mut tx = ctx.db.begin().await?;
    let row = store::streams::get(&mut tx, principal.tenant_id, id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    // A live session ends with the stream (stream.disconnected, stream.idle), so receivers see
    // every session end; the publisher is cut through the disconnect request below.
    if let Some(session) = row.session_id {
        let r = store::sessions_live::SessionRef {
            session,
            tenant: principal.tenant_id,
            stream: id,
            node: None,
        };
        store::sessions_live::ended(
            &mut tx,
            r,
            EndReason::StreamDeleted.as_str(),
            chrono::Utc::now(),
        )
        .await?;
    }
    // Written before the row goes, so the event carries the stream as it was.
    events::stream_event(
        &mut tx,
        principal.tenant_id,
        id,
        None,
        EventType::StreamDeleted,
        serde_json::json!({}),
    )
    .await?;
    super::audit::record(
        &mut tx,
        &principal,
        ip,
        "stream.deleted",
        ("stream", &id.to_string()),
        serde_json::json!({"name": row.name, "was_live": row.session_id.is_some()}),
    )
    .await?;
    if store::streams::delete(&mut tx, principal.tenant_id, id).await? {
        store::keys::request_disconnect(&mut tx, principal.tenant_id, id, None, "stream_deleted")
            .await?;
        tx.commit().await?;
        tracing::info!(tenant = %principal.tenant_id, stream = %id, by = %principal.describe(), "stream deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Enable a stream: publishes are accepted again.
#[utoipa::path(post, path = "/v1/streams/{id}/enable", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 200, body = StreamView), (status = 404, body = Problem)))]
pub async fn enable(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<axum::Json<StreamView>, ApiError> {
    let settings = StreamSettings {
        enabled: Some(true),
        ..Default::default()
    };
    Ok(axum::Json(
        update_with(&ctx, &principal, ip, &id, &settings).await?,
    ))
}

/// Disable a stream: publishes are refused with `stream_disabled`.
#[utoipa::path(post, path = "/v1/streams/{id}/disable", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 200, body = StreamView), (status = 404, body = Problem)))]
pub async fn disable(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<axum::Json<StreamView>, ApiError> {
    let settings = StreamSettings {
        enabled: Some(false),
        ..Default::default()
    };
    Ok(axum::Json(
        update_with(&ctx, &principal, ip, &id, &settings).await?,
    ))
}
