//! `/v1/streams/{id}/sessions`: a stream's publish sessions, newest first, with what the ingest
//! measured (start-up times, bitrate, resolution, codecs, keyframe interval, bytes, reconnects) and the
//! limits they broke; and `/v1/streams/{id}/sessions/{session_id}/health`, a session's health series.

use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::error::{ApiError, Problem};
use super::extract::{Cursor, Page, PageQuery, Principal, QueryParams, path_uuid};
use crate::store;
use crate::store::publish_sessions::{HealthRow, SessionRow, WarningRow};
use crate::store::streams::LatestHealth;

/// Where a session is: a publisher is connected (`live`), it dropped and the session waits for it
/// within the stream's reconnect window (`reconnecting`; the stream stays live), or it is over.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Live,
    Reconnecting,
    Ended,
}

impl SessionState {
    pub fn of(ended_at: Option<DateTime<Utc>>, disconnected_at: Option<DateTime<Utc>>) -> Self {
        match (ended_at, disconnected_at) {
            (Some(_), _) => SessionState::Ended,
            (None, Some(_)) => SessionState::Reconnecting,
            (None, None) => SessionState::Live,
        }
    }
}

/// Figures the ingest measured over its sliding window (default 5 s).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    /// When the ingest measured them.
    pub at: DateTime<Utc>,
    /// Audio + video, kbit/s.
    pub bitrate_kbps: i32,
    pub fps: f64,
    /// The last interval between two keyframes.
    pub keyframe_interval_ms: Option<i32>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    /// Media bytes received in the session so far.
    pub bytes: i64,
    /// Media clock ahead (+) or behind (−) the wall clock since the connection's first frame.
    pub skew_ms: i64,
}

impl HealthView {
    /// The latest figures of a session; `None` before its first report.
    pub fn latest(h: LatestHealth) -> Option<HealthView> {
        Some(HealthView {
            at: h.health_at?,
            bitrate_kbps: h.last_bitrate_kbps.unwrap_or_default(),
            fps: h.fps.unwrap_or_default(),
            keyframe_interval_ms: h.keyframe_interval_ms,
            width: h.width,
            height: h.height,
            video_codec: h.video_codec,
            audio_codec: h.audio_codec,
            bytes: h.bytes.unwrap_or_default(),
            skew_ms: h.skew_ms.unwrap_or_default(),
        })
    }
}

impl From<HealthRow> for HealthView {
    fn from(r: HealthRow) -> Self {
        HealthView {
            at: r.at,
            bitrate_kbps: r.bitrate_kbps,
            fps: r.fps,
            keyframe_interval_ms: r.keyframe_interval_ms,
            width: r.width,
            height: r.height,
            video_codec: r.video_codec,
            audio_codec: r.audio_codec,
            bytes: r.bytes,
            skew_ms: r.skew_ms,
        }
    }
}

/// A broken limit, as the ingest reported it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningView {
    pub at: DateTime<Utc>,
    /// `max_bitrate_kbps`, `max_keyframe_interval_ms`, `max_width`, `max_height`, `max_fps`,
    /// `video_codecs`, `audio_codecs`.
    pub limit: String,
    /// The configured value, as text.
    pub configured: String,
    /// The measured value, as text.
    pub measured: String,
    /// What the encoder was told.
    pub description: String,
    /// `rejected` (the session was closed) or `flagged` (it continued).
    pub action: String,
}

impl From<WarningRow> for WarningView {
    fn from(w: WarningRow) -> Self {
        WarningView {
            at: w.at,
            limit: w.limit_name,
            configured: w.configured,
            measured: w.measured,
            description: w.description,
            action: w.action,
        }
    }
}

/// A publish session with its figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub state: SessionState,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended (`publisher_left`, `network_error`, `limits_violation`, `takeover`, ...).
    pub end_reason: Option<String>,
    /// While `reconnecting`: when the publisher dropped.
    pub disconnected_at: Option<DateTime<Utc>>,
    pub first_frame_at: Option<DateTime<Utc>>,
    pub hls_ready_at: Option<DateTime<Utc>>,
    pub hls_url: Option<String>,
    pub time_to_first_frame_ms: Option<i64>,
    pub time_to_hls_ready_ms: Option<i64>,
    /// Mean of the health reports' bitrates.
    pub avg_bitrate_kbps: Option<i64>,
    pub peak_bitrate_kbps: Option<i32>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub keyframe_interval_ms: Option<i32>,
    /// Media bytes received, all connections of the session.
    pub bytes: i64,
    /// How many times a publisher continued the session (reconnects within the window, takeovers).
    pub reconnects: i32,
    /// The ingest node of its latest connection.
    pub node_id: String,
    /// The stream key of its latest connection.
    pub key_id: Option<String>,
    /// Limits it broke, oldest first (the newest 100).
    pub warnings: Vec<WarningView>,
}

fn ms_between(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<i64> {
    to.map(|t| (t - from).num_milliseconds().max(0))
}

impl SessionView {
    fn new(r: SessionRow, warnings: Vec<WarningView>) -> SessionView {
        SessionView {
            id: r.id,
            state: SessionState::of(r.ended_at, r.disconnected_at),
            started_at: r.started_at,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
            disconnected_at: r.disconnected_at.filter(|_| r.ended_at.is_none()),
            time_to_first_frame_ms: ms_between(r.started_at, r.first_frame_at),
            time_to_hls_ready_ms: ms_between(r.started_at, r.hls_ready_at),
            first_frame_at: r.first_frame_at,
            hls_ready_at: r.hls_ready_at,
            hls_url: r.hls_url,
            avg_bitrate_kbps: (r.health_count > 0)
                .then(|| r.bitrate_sum / i64::from(r.health_count.max(1))),
            peak_bitrate_kbps: r.peak_bitrate_kbps,
            width: r.width,
            height: r.height,
            fps: r.fps,
            video_codec: r.video_codec,
            audio_codec: r.audio_codec,
            keyframe_interval_ms: r.keyframe_interval_ms,
            bytes: r.bytes,
            reconnects: r.reconnects,
            node_id: r.node_id,
            key_id: r.key_id,
            warnings,
        }
    }
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(health))
}

/// A stream's publish sessions, newest first, with health figures and warnings.
#[utoipa::path(get, path = "/v1/streams/{id}/sessions", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), PageQuery),
    responses((status = 200, body = Page<SessionView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<SessionView>>, ApiError> {
    let id = path_uuid(&id)?;
    if !store::publish_sessions::stream_exists(&ctx.db, principal.tenant_id, id).await? {
        return Err(ApiError::NotFound);
    }
    let limit = q.limit()?;
    let rows = store::publish_sessions::list(
        &ctx.db,
        principal.tenant_id,
        id,
        q.cursor()?.as_ref(),
        limit,
    )
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut warnings: HashMap<Uuid, Vec<WarningView>> = HashMap::new();
    for w in store::publish_sessions::warnings(&ctx.db, principal.tenant_id, &ids).await? {
        warnings.entry(w.session_id).or_default().push(w.into());
    }
    let views = rows
        .into_iter()
        .map(|r| {
            let w = warnings.remove(&r.id).unwrap_or_default();
            SessionView::new(r, w)
        })
        .collect();
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |s: &SessionView| Cursor::encode(s.started_at, s.id),
    )))
}

/// `?limit=&cursor=` of the health series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    /// Page size, 1..=1000 (default 1000: all that is kept of a session).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Largest page of the health series (and most reports kept per session).
pub const MAX_HEALTH_PAGE: u32 = 1000;

/// A session's health reports, oldest first (for a bitrate chart). Kept 7 days, at most the newest
/// 1000 reports of a session.
#[utoipa::path(get, path = "/v1/streams/{id}/sessions/{session_id}/health", tag = "streams",
    params(("id" = String, Path, description = "Stream id"),
           ("session_id" = String, Path, description = "Session id"), HealthQuery),
    responses((status = 200, body = Page<HealthView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn health(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path((id, session_id)): Path<(String, String)>,
    QueryParams(q): QueryParams<HealthQuery>,
) -> Result<axum::Json<Page<HealthView>>, ApiError> {
    let id = path_uuid(&id)?;
    let session_id = path_uuid(&session_id)?;
    let limit = match q.limit {
        None => i64::from(MAX_HEALTH_PAGE),
        Some(n) if (1..=MAX_HEALTH_PAGE).contains(&n) => i64::from(n),
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 1000")),
    };
    let cursor = PageQuery {
        limit: None,
        cursor: q.cursor,
    }
    .cursor()?;
    if !store::publish_sessions::session_exists(&ctx.db, principal.tenant_id, id, session_id)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    let rows = store::publish_sessions::health(
        &ctx.db,
        principal.tenant_id,
        session_id,
        cursor.as_ref(),
        limit,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let last = rows
        .get(limit as usize - 1)
        .filter(|_| more)
        .map(|r| Cursor::encode(r.at, r.id));
    let data = rows
        .into_iter()
        .take(limit as usize)
        .map(HealthView::from)
        .collect();
    Ok(axum::Json(Page {
        data,
        next_cursor: last,
    }))
}
