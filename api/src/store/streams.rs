//! Streams and their stream keys.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::limits::Limits;
use crate::store::cursor::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StreamRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub enabled: bool,
    pub live: bool,
    pub auth_mode: String,
    pub limits: Json<Limits>,
    pub ip_allowlist: Vec<String>,
    pub reconnect_window_seconds: i32,
    pub max_continuous_duration_seconds: i32,
    pub takeover: bool,
    pub recording: bool,
    pub playback_id: String,
    pub hls_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_live_at: Option<DateTime<Utc>>,
    /// The newest key that still works, for the stream-key hint.
    pub current_key_id: Option<String>,
    pub session_id: Option<Uuid>,
    pub session_node_id: Option<String>,
    pub session_started_at: Option<DateTime<Utc>>,
    pub session_hls_ready_at: Option<DateTime<Utc>>,
    pub session_first_frame_at: Option<DateTime<Utc>>,
    pub session_disconnected_at: Option<DateTime<Utc>>,
    pub session_reconnects: Option<i32>,
    /// The session's latest health figures (all `None` before its first report).
    #[sqlx(flatten)]
    pub health: LatestHealth,
}

/// A session's latest health figures, as folded from the ingest's reports.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct LatestHealth {
    pub health_at: Option<DateTime<Utc>>,
    pub last_bitrate_kbps: Option<i32>,
    pub fps: Option<f64>,
    pub keyframe_interval_ms: Option<i32>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub bytes: Option<i64>,
    pub skew_ms: Option<i64>,
}

const COLUMNS: &str = "s.id, s.tenant_id, s.name, s.enabled, s.live, s.auth_mode, s.limits,
    s.ip_allowlist, s.reconnect_window_seconds, s.max_continuous_duration_seconds, s.takeover,
    s.recording, s.playback_id, s.hls_url, s.created_at, s.last_live_at,
    (SELECT k.id FROM stream_keys k
      WHERE k.stream_id = s.id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
      ORDER BY k.created_at DESC, k.id DESC LIMIT 1) AS current_key_id,
    ps.id AS session_id, ps.node_id AS session_node_id, ps.started_at AS session_started_at,
    ps.hls_ready_at AS session_hls_ready_at, ps.first_frame_at AS session_first_frame_at,
    ps.disconnected_at AS session_disconnected_at, ps.reconnects AS session_reconnects,
    ps.health_at, ps.last_bitrate_kbps, ps.fps, ps.keyframe_interval_ms, ps.width, ps.height,
    ps.video_codec, ps.audio_codec, ps.bytes, ps.skew_ms";

/// Streams with their active session, if any.
const FROM: &str = "streams s LEFT JOIN publish_sessions ps ON ps.id = s.active_session_id";

/// The filter of `GET /v1/streams?status=`.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Live,
    Idle,
    Disabled,
}

/// The settable fields of a stream, written as a whole.
#[derive(Debug, Clone)]
pub struct StreamFields {
    pub name: String,
    pub enabled: bool,
    pub auth_mode: String,
    pub limits: Limits,
    pub ip_allowlist: Vec<String>,
    pub reconnect_window_seconds: i32,
    pub max_continuous_duration_seconds: i32,
    pub takeover: bool,
    pub recording: bool,
}

impl StreamFields {
    /// The names of the fields that differ in `after`.
    pub fn changed(&self, after: &StreamFields) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut cmp = |name: &'static str, differs: bool| {
            if differs {
                out.push(name);
            }
        };
        cmp("name", self.name != after.name);
        cmp("enabled", self.enabled != after.enabled);
        cmp("auth_mode", self.auth_mode != after.auth_mode);
        cmp("limits", self.limits != after.limits);
        cmp("ip_allowlist", self.ip_allowlist != after.ip_allowlist);
        cmp(
            "reconnect_window_seconds",
            self.reconnect_window_seconds != after.reconnect_window_seconds,
        );
        cmp(
            "max_continuous_duration_seconds",
            self.max_continuous_duration_seconds != after.max_continuous_duration_seconds,
        );
        cmp("takeover", self.takeover != after.takeover);
        cmp("recording", self.recording != after.recording);
        out
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    fields: &StreamFields,
    playback_id: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO streams (id, tenant_id, name, enabled, auth_mode, limits, ip_allowlist,
            reconnect_window_seconds, max_continuous_duration_seconds, takeover, recording, playback_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(&fields.name)
    .bind(fields.enabled)
    .bind(&fields.auth_mode)
    .bind(Json(&fields.limits))
    .bind(&fields.ip_allowlist)
    .bind(fields.reconnect_window_seconds)
    .bind(fields.max_continuous_duration_seconds)
    .bind(fields.takeover)
    .bind(fields.recording)
    .bind(playback_id)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    fields: &StreamFields,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE streams SET name = $3, enabled = $4, auth_mode = $5, limits = $6, ip_allowlist = $7,
            reconnect_window_seconds = $8, max_continuous_duration_seconds = $9, takeover = $10,
            recording = $11, updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(&fields.name)
    .bind(fields.enabled)
    .bind(&fields.auth_mode)
    .bind(Json(&fields.limits))
    .bind(&fields.ip_allowlist)
    .bind(fields.reconnect_window_seconds)
    .bind(fields.max_continuous_duration_seconds)
    .bind(fields.takeover)
    .bind(fields.recording)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream_id: Uuid,
    key_id: &str,
    secret_hash: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stream_keys (id, tenant_id, stream_id, secret_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(key_id)
    .bind(tenant_id)
    .bind(stream_id)
    .bind(secret_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// One stream of a tenant; `lock` takes a row lock for a read-modify-write.
pub async fn get(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<StreamRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.tenant_id = $1 AND s.id = $2{}",
        if lock { " FOR UPDATE OF s" } else { "" }
    );
    sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Streams of a tenant, newest first, `limit + 1` rows after the cursor.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    status: Option<StatusFilter>,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<StreamRow>> {
    let status_sql = match status {
        None => "",
        Some(StatusFilter::Live) => " AND s.enabled AND s.live",
        Some(StatusFilter::Idle) => " AND s.enabled AND NOT s.live",
        Some(StatusFilter::Disabled) => " AND NOT s.enabled",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE s.tenant_id = $1{status_sql}
           AND ($2::timestamptz IS NULL OR (s.created_at, s.id) < ($2, $3))
         ORDER BY s.created_at DESC, s.id DESC LIMIT $4"
    );
    let after_id = after
        .and_then(|c| Uuid::parse_str(&c.id).ok())
        .unwrap_or_default();
    sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(after.map(|c| c.at))
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(db)
        .await
}

/// Deletes a stream and its keys; `false` when the tenant has no such stream.
pub async fn delete(conn: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let n = sqlx::query("DELETE FROM streams WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}
