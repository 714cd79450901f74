//! What publish authorization reads and writes: the stream with its tenant's rules, spent single-use
//! token ids, and the publish-attempt record.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::limits::Limits;
use crate::http::extract::Cursor;

/// What authorization needs to know about a presented key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyAuth {
    pub key_id: String,
    pub secret_hash: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was superseded by a newer one (for "rotated on …").
    pub rotated_at: Option<DateTime<Utc>>,
    pub stream_id: Uuid,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyWithStream {
    #[sqlx(flatten)]
    pub key: KeyAuth,
    #[sqlx(flatten)]
    pub stream: StreamAuth,
}

const STREAM_COLUMNS: &str =
    "s.id, s.tenant_id, s.enabled, s.auth_mode, s.limits, s.ip_allowlist, s.playback_id,
    s.reconnect_window_seconds, s.max_continuous_duration_seconds, s.recording,
    t.ip_allowlist AS tenant_allowlist, t.suspended_at IS NOT NULL AS tenant_suspended";

/// A key with its stream and tenant rules, in one round trip (the hot path of every publish).
pub async fn key_with_stream(db: &PgPool, key_id: &str) -> sqlx::Result<Option<KeyWithStream>> {
    sqlx::query_as(&format!(
        "SELECT k.id AS key_id, k.secret_hash, k.expires_at, k.revoked_at, k.stream_id,
                (SELECT min(n.created_at) FROM stream_keys n
                  WHERE n.stream_id = k.stream_id AND n.created_at > k.created_at) AS rotated_at,
                {STREAM_COLUMNS}
         FROM stream_keys k JOIN streams s ON s.id = k.stream_id JOIN tenants t ON t.id = s.tenant_id
         WHERE k.id = $1"
    ))
    .bind(key_id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StreamAuth {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub enabled: bool,
    pub auth_mode: String,
    pub limits: Json<Limits>,
    pub ip_allowlist: Vec<String>,
    pub playback_id: String,
    pub reconnect_window_seconds: i32,
    pub max_continuous_duration_seconds: i32,
    pub recording: bool,
    pub tenant_allowlist: Vec<String>,
    pub tenant_suspended: bool,
}

pub async fn stream(db: &PgPool, stream_id: Uuid) -> sqlx::Result<Option<StreamAuth>> {
    sqlx::query_as(&format!(
        "SELECT {STREAM_COLUMNS} FROM streams s JOIN tenants t ON t.id = s.tenant_id WHERE s.id = $1"
    ))
    .bind(stream_id)
    .fetch_optional(db)
    .await
}

/// Spends a single-use token id; `false` when it was already spent.
pub async fn spend_jti(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // Tokens past their expiry (and the clock skew) can never be replayed: forget them.
    sqlx::query(
        "DELETE FROM used_publish_tokens WHERE tenant_id = $1 AND expires_at < now() - interval '5 minutes'",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    let n = sqlx::query(
        "INSERT INTO used_publish_tokens (jti, tenant_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(jti)
    .bind(tenant_id)
    .bind(expires_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// One publish attempt to record.
pub struct Attempt<'a> {
    pub tenant_id: Option<Uuid>,
    pub stream_id: Option<Uuid>,
    pub key_id: Option<&'a str>,
    pub session_id: Option<Uuid>,
    /// The accepted publish continued an open session (a reconnect or a takeover).
    pub resumed: bool,
    pub result: &'a str,
    pub reason_code: Option<&'a str>,
    pub detail: &'a str,
    pub client_ip: String,
    pub app: &'a str,
    pub tls: bool,
    pub node_id: &'a str,
}

/// Records the attempt and, in the same statement, marks `touch_key` used (one round trip).
pub async fn record(db: &PgPool, a: Attempt<'_>, touch_key: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "WITH touched AS (UPDATE stream_keys SET last_used_at = now() WHERE id = $13)
         INSERT INTO publish_attempts (id, tenant_id, stream_id, key_id, session_id, result, reason_code,
                                       detail, client_ip, app, tls, node_id, resumed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14)",
    )
    .bind(Uuid::now_v7())
    .bind(a.tenant_id)
    .bind(a.stream_id)
    .bind(a.key_id)
    .bind(a.session_id)
    .bind(a.result)
    .bind(a.reason_code)
    .bind(a.detail)
    .bind(a.client_ip)
    .bind(a.app)
    .bind(a.tls)
    .bind(a.node_id)
    .bind(touch_key)
    .bind(a.resumed)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub result: String,
    pub reason_code: Option<String>,
    pub detail: String,
    pub client_ip: String,
    pub app: String,
    pub tls: bool,
    pub key_id: Option<String>,
    pub session_id: Option<Uuid>,
    pub node_id: String,
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    stream_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "SELECT id, at, result, reason_code, detail, client_ip, app, tls, key_id, session_id, node_id
         FROM publish_attempts
         WHERE tenant_id = $1 AND stream_id = $2 AND ($3::timestamptz IS NULL OR (at, id) < ($3, $4))
         ORDER BY at DESC, id DESC LIMIT $5",
    )
    .bind(tenant_id)
    .bind(stream_id)
    .bind(after.map(|c| c.at))
    .bind(after.and_then(|c| Uuid::parse_str(&c.id).ok()).unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(db)
    .await
}
