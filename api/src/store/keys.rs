//! Stream keys: listing, rotation with a grace window, revocation, and the lookup publish
//! authorization does by key id.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str = "id, created_at, expires_at, revoked_at, last_used_at";

/// Keys of a stream, newest first (bounded: a stream rarely has many).
pub async fn list(db: &PgPool, tenant_id: Uuid, stream_id: Uuid) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM stream_keys WHERE tenant_id = $1 AND stream_id = $2
         ORDER BY created_at DESC, id DESC LIMIT 100"
    ))
    .bind(tenant_id)
    .bind(stream_id)
    .fetch_all(db)
    .await
}

/// Makes every key of the stream that would outlive `until` expire at `until` (rotation grace).
/// Returns the ids of the keys that were still valid.
pub async fn expire_older(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream_id: Uuid,
    until: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE stream_keys SET expires_at = $3
         WHERE tenant_id = $1 AND stream_id = $2 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > $3)
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(stream_id)
    .bind(until)
    .fetch_all(conn)
    .await
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream_id: Uuid,
    id: &str,
) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM stream_keys WHERE tenant_id = $1 AND stream_id = $2 AND id = $3"
    ))
    .bind(tenant_id)
    .bind(stream_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Revokes a key now; `false` when there is no such unrevoked key.
pub async fn revoke(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream_id: Uuid,
    id: &str,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE stream_keys SET revoked_at = now()
         WHERE tenant_id = $1 AND stream_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(stream_id)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records that a live publisher on this stream (optionally: on this key) must be disconnected.
pub async fn request_disconnect(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream_id: Uuid,
    key_id: Option<&str>,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO disconnect_requests (id, tenant_id, stream_id, key_id, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(stream_id)
    .bind(key_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}
