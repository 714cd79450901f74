//! What publish authorization reads and writes: the stream with its tenant's rules, the live claim
//! (with spent single-use token ids) and the publish-attempt record.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::limits::Limits;
use crate::store::cursor::Cursor;

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

/// The live claim of an accepted publish (`inlet_publish_claim`), with what the attempt records.
pub struct ClaimRequest<'a> {
    pub tenant_id: Uuid,
    pub stream_id: Uuid,
    pub node_id: &'a str,
    /// The key presented, when keys count for the stream (marked used when accepted).
    pub key_id: Option<&'a str>,
    pub need_key: bool,
    /// A single-use token's id and expiry, spent by the claim.
    pub single_use: Option<(&'a str, DateTime<Utc>)>,
    pub client_ip: String,
    pub app: &'a str,
    pub tls: bool,
}

/// What the claim decided; the attempt is recorded either way.
#[derive(Debug, sqlx::FromRow)]
pub struct ClaimOutcome {
    /// `accepted`, or the refusal's reason code (`already_live`, `tenant_quota`, `token_replayed`).
    pub outcome: String,
    pub session_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub resumed: bool,
    /// The node the continued session was on.
    pub old_node: Option<String>,
    /// A session the claim ended (its window was over, or a takeover replaced it), and why.
    pub ended_reason: Option<String>,
    /// The sentence recorded with the attempt.
    pub detail: String,
}

/// Claims the stream's live session for an accepted publish and records the attempt, in one round
/// trip and one transaction.
pub async fn claim(db: &PgPool, c: ClaimRequest<'_>) -> sqlx::Result<ClaimOutcome> {
    sqlx::query_as(
        "SELECT outcome, session_id, started_at, resumed, old_node, ended_reason, detail
         FROM inlet_publish_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(Uuid::now_v7())
    .bind(c.tenant_id)
    .bind(c.stream_id)
    .bind(c.node_id)
    .bind(c.key_id)
    .bind(c.need_key)
    .bind(c.single_use.map(|(jti, _)| jti))
    .bind(c.single_use.map(|(_, exp)| exp))
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(c.client_ip)
    .bind(c.app)
    .bind(c.tls)
    .fetch_one(db)
    .await
}

/// A refused publish attempt to record, decided before the live claim (the claim records the
/// attempts it decides, accepted or refused).
pub struct RefusedAttempt<'a> {
    pub tenant_id: Option<Uuid>,
    pub stream_id: Option<Uuid>,
    pub key_id: Option<&'a str>,
    pub reason_code: &'a str,
    pub detail: &'a str,
    pub client_ip: String,
    pub app: &'a str,
    pub tls: bool,
    pub node_id: &'a str,
}

/// Records a refused attempt and, when it names a stream, its `stream.rejected` event (coalesced per
/// stream, reason and minute by `inlet_stream_rejected`), in one statement.
pub async fn record_refusal(db: &PgPool, a: RefusedAttempt<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "WITH attempt AS (
             INSERT INTO publish_attempts (id, tenant_id, stream_id, key_id, result, reason_code, detail,
                                           client_ip, app, tls, node_id)
             VALUES ($1, $2, $3, $4, 'refused', $5, $6, $7, $8, $9, $10))
         SELECT inlet_stream_rejected($2, $3, $5, $6, $7)
          WHERE $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL",
    )
    .bind(Uuid::now_v7())
    .bind(a.tenant_id)
    .bind(a.stream_id)
    .bind(a.key_id)
    .bind(a.reason_code)
    .bind(a.detail)
    .bind(a.client_ip)
    .bind(a.app)
    .bind(a.tls)
    .bind(a.node_id)
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
