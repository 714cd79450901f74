//! Publish sessions reported by ingest nodes, and the stream's live state that follows from them.
//! Every write is idempotent: the ingest retries until delivered.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn connected(
    conn: &mut PgConnection,
    session: Uuid,
    tenant: Uuid,
    stream: Uuid,
    node: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO publish_sessions (id, tenant_id, stream_id, node_id, started_at)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM streams WHERE id = $3 AND tenant_id = $2)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(session)
    .bind(tenant)
    .bind(stream)
    .bind(node)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    // A session that already ended (a late retry) does not make the stream live again.
    sqlx::query(
        "UPDATE streams SET live = true, active_session_id = $1, last_live_at = $4
         WHERE id = $2 AND tenant_id = $3
           AND (active_session_id IS NULL OR active_session_id = $1)
           AND EXISTS (SELECT 1 FROM publish_sessions WHERE id = $1 AND ended_at IS NULL)",
    )
    .bind(session)
    .bind(stream)
    .bind(tenant)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn hls_ready(
    conn: &mut PgConnection,
    session: Uuid,
    tenant: Uuid,
    stream: Uuid,
    url: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE publish_sessions SET hls_ready_at = COALESCE(hls_ready_at, $3), hls_url = $4
         WHERE id = $1 AND tenant_id = $2",
    )
    .bind(session)
    .bind(tenant)
    .bind(at)
    .bind(url)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE streams SET hls_url = $3 WHERE id = $1 AND tenant_id = $2 AND active_session_id = $4")
        .bind(stream)
        .bind(tenant)
        .bind(url)
        .bind(session)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn ended(
    conn: &mut PgConnection,
    session: Uuid,
    tenant: Uuid,
    stream: Uuid,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE publish_sessions SET ended_at = COALESCE(ended_at, $3), end_reason = COALESCE(end_reason, $4)
         WHERE id = $1 AND tenant_id = $2",
    )
    .bind(session)
    .bind(tenant)
    .bind(at)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE streams SET live = false, hls_url = NULL, active_session_id = NULL
         WHERE id = $1 AND tenant_id = $2 AND active_session_id = $3",
    )
    .bind(stream)
    .bind(tenant)
    .bind(session)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveSession {
    pub id: Uuid,
    pub node_id: String,
    pub started_at: DateTime<Utc>,
    pub hls_ready_at: Option<DateTime<Utc>>,
}

/// The stream's live claim, taken at authorization: one live session per stream, cluster-wide.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub active_session_id: Option<Uuid>,
    pub active_key_id: Option<String>,
    pub takeover: bool,
    pub live_in_tenant: i64,
    pub max_concurrent_live: i32,
}

/// Reads the stream's current claim and the tenant's live count. The stream row is locked (two
/// publishes of one stream serialize); the tenant is not, so concurrent publishes of different
/// streams of one tenant do not queue behind each other — the quota may be overshot by publishes
/// that race within the same instant (documented trade-off).
pub async fn claim_state(
    conn: &mut PgConnection,
    tenant: Uuid,
    stream: Uuid,
) -> sqlx::Result<Claim> {
    sqlx::query_as(
        "WITH t AS (SELECT id, max_concurrent_live FROM tenants WHERE id = $1)
         SELECT s.active_session_id, ps.key_id AS active_key_id, s.takeover,
                (SELECT count(*) FROM streams o WHERE o.tenant_id = $1 AND o.active_session_id IS NOT NULL
                   AND o.id <> $2) AS live_in_tenant,
                t.max_concurrent_live
         FROM streams s JOIN t ON t.id = s.tenant_id
         LEFT JOIN publish_sessions ps ON ps.id = s.active_session_id
         WHERE s.id = $2
         FOR UPDATE OF s",
    )
    .bind(tenant)
    .bind(stream)
    .fetch_one(conn)
    .await
}

/// Records the new session and makes it the stream's live one.
pub async fn claim(
    conn: &mut PgConnection,
    session: Uuid,
    tenant: Uuid,
    stream: Uuid,
    node: &str,
    key_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO publish_sessions (id, tenant_id, stream_id, node_id, started_at, key_id)
         VALUES ($1, $2, $3, $4, now(), $5)",
    )
    .bind(session)
    .bind(tenant)
    .bind(stream)
    .bind(node)
    .bind(key_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE streams SET live = true, active_session_id = $1, last_live_at = now(), hls_url = NULL
         WHERE id = $2 AND tenant_id = $3",
    )
    .bind(session)
    .bind(stream)
    .bind(tenant)
    .execute(conn)
    .await?;
    Ok(())
}
