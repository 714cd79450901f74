//! API tokens (`inlet_<id>_<secret>`, secret stored hashed).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::cursor::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    /// The role the token acts with.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: &str,
    name: &str,
    secret_hash: &[u8],
    created_by_user_id: Option<Uuid>,
    role: &str,
) -> sqlx::Result<TokenRow> {
    sqlx::query_as(
        "INSERT INTO api_tokens (id, tenant_id, name, secret_hash, created_by_user_id, role)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, role, created_at, last_used_at",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(name)
    .bind(secret_hash)
    .bind(created_by_user_id)
    .bind(role)
    .fetch_one(conn)
    .await
}

/// Active tokens of a tenant, newest first, `limit + 1` rows from `after`.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as(
        "SELECT id, name, role, created_at, last_used_at FROM api_tokens
         WHERE tenant_id = $1 AND revoked_at IS NULL
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id.clone()).unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

/// Revokes a token; `false` when the tenant has no such active token.
pub async fn revoke(conn: &mut PgConnection, tenant_id: Uuid, id: &str) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now()
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[derive(sqlx::FromRow)]
pub struct TokenAuth {
    pub tenant_id: Uuid,
    pub secret_hash: Vec<u8>,
    pub role: String,
    pub created_by_user_id: Option<Uuid>,
}

/// An active token of a tenant that is not suspended.
pub async fn for_auth(db: &PgPool, id: &str) -> sqlx::Result<Option<TokenAuth>> {
    sqlx::query_as(
        "SELECT k.tenant_id, k.secret_hash, k.role, k.created_by_user_id FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.id = $1 AND k.revoked_at IS NULL AND t.suspended_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records use, at most once a second per token so hot tokens do not hammer one row.
pub async fn touch(db: &PgPool, tenant_id: Uuid, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE tenant_id = $1 AND id = $2
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 second')",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
