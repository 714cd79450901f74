//! Reading publish sessions for the API: a stream's sessions with their figures and warnings, and a
//! session's health series. Writes are in `sessions_live`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::cursor::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub node_id: String,
    pub key_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub first_frame_at: Option<DateTime<Utc>>,
    pub hls_ready_at: Option<DateTime<Utc>>,
    pub hls_url: Option<String>,
    pub reconnects: i32,
    pub bytes: i64,
    pub peak_bitrate_kbps: Option<i32>,
    pub bitrate_sum: i64,
    pub health_count: i32,
    pub fps: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub keyframe_interval_ms: Option<i32>,
}

/// Whether the tenant has this stream.
pub async fn stream_exists(db: &PgPool, tenant_id: Uuid, stream_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM streams WHERE tenant_id = $1 AND id = $2)")
        .bind(tenant_id)
        .bind(stream_id)
        .fetch_one(db)
        .await
}

/// Whether the tenant's stream has this session.
pub async fn session_exists(
    db: &PgPool,
    tenant_id: Uuid,
    stream_id: Uuid,
    session_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM publish_sessions WHERE tenant_id = $1 AND stream_id = $2 AND id = $3)",
    )
    .bind(tenant_id)
    .bind(stream_id)
    .bind(session_id)
    .fetch_one(db)
    .await
}

/// A stream's sessions, newest first, `limit + 1` rows after the cursor.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    stream_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as(
        "SELECT id, node_id, key_id, started_at, ended_at, end_reason, disconnected_at, first_frame_at,
                hls_ready_at, hls_url, reconnects, bytes, peak_bitrate_kbps, bitrate_sum, health_count,
                fps, width, height, video_codec, audio_codec, keyframe_interval_ms
         FROM publish_sessions
         WHERE tenant_id = $1 AND stream_id = $2
           AND ($3::timestamptz IS NULL OR (started_at, id) < ($3, $4))
         ORDER BY started_at DESC, id DESC LIMIT $5",
    )
    .bind(tenant_id)
    .bind(stream_id)
    .bind(after.map(|c| c.at))
    .bind(
        after
            .and_then(|c| Uuid::parse_str(&c.id).ok())
            .unwrap_or_default(),
    )
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WarningRow {
    pub session_id: Uuid,
    pub at: DateTime<Utc>,
    pub limit_name: String,
    pub configured: String,
    pub measured: String,
    pub description: String,
    pub action: String,
}

/// Most warnings shown per session in a list.
pub const WARNINGS_SHOWN: i64 = 100;

/// The newest `WARNINGS_SHOWN` warnings of each of these sessions, oldest first.
pub async fn warnings(
    db: &PgPool,
    tenant_id: Uuid,
    sessions: &[Uuid],
) -> sqlx::Result<Vec<WarningRow>> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT session_id, at, limit_name, configured, measured, description, action FROM (
             SELECT w.*, row_number() OVER (PARTITION BY session_id ORDER BY at DESC, id DESC) AS n
             FROM session_warnings w WHERE tenant_id = $1 AND session_id = ANY($2)) x
         WHERE n <= $3 ORDER BY session_id, at, id",
    )
    .bind(tenant_id)
    .bind(sessions)
    .bind(WARNINGS_SHOWN)
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HealthRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub bitrate_kbps: i32,
    pub fps: f64,
    pub keyframe_interval_ms: Option<i32>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub bytes: i64,
    pub skew_ms: i64,
}

/// A session's health reports, oldest first, `limit + 1` rows after the cursor.
pub async fn health(
    db: &PgPool,
    tenant_id: Uuid,
    session_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<HealthRow>> {
    sqlx::query_as(
        "SELECT id, at, bitrate_kbps, fps, keyframe_interval_ms, width, height, video_codec,
                audio_codec, bytes, skew_ms
         FROM session_health
         WHERE tenant_id = $1 AND session_id = $2
           AND ($3::timestamptz IS NULL OR (at, id) > ($3, $4))
         ORDER BY at, id LIMIT $5",
    )
    .bind(tenant_id)
    .bind(session_id)
    .bind(after.map(|c| c.at))
    .bind(after.and_then(|c| c.id.parse::<i64>().ok()).unwrap_or(0))
    .bind(limit + 1)
    .fetch_all(db)
    .await
}
