//! Dashboard login sessions (cookie `ses_<id>_<secret>`, secret stored hashed).

use chrono::{Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn insert(
    db: &PgPool,
    id: &str,
    tenant_id: Uuid,
    user_id: Uuid,
    secret_hash: &[u8],
    client_ip: Option<String>,
    ttl: Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_sessions (id, tenant_id, user_id, secret_hash, client_ip, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(secret_hash)
    .bind(client_ip)
    .bind(Utc::now() + ttl)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct SessionAuth {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub secret_hash: Vec<u8>,
    /// The user's role now (a role change applies to sessions at once).
    pub role: String,
}

/// A live (unexpired) session of a tenant that is not suspended.
pub async fn for_auth(db: &PgPool, id: &str) -> sqlx::Result<Option<SessionAuth>> {
    sqlx::query_as(
        "SELECT s.tenant_id, s.user_id, s.secret_hash, u.role
         FROM user_sessions s JOIN tenants t ON t.id = s.tenant_id JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.expires_at > now() AND t.suspended_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn delete(db: &PgPool, tenant_id: Uuid, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM user_sessions WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
