//! Publish-token signing keys: the API's own (private key sealed) and tenants' public keys.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::cursor::Cursor;

#[derive(Debug, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub kid: String,
    pub private_sealed: Vec<u8>,
}

/// The newest unretired API key, if any.
pub async fn current_api_key(db: &PgPool) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(
        "SELECT kid, private_sealed FROM api_signing_keys WHERE retired_at IS NULL
         ORDER BY created_at DESC, kid DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await
}

pub async fn insert_api_key(
    db: &PgPool,
    kid: &str,
    private_sealed: &[u8],
    public_key: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_signing_keys (kid, private_sealed, public_key) VALUES ($1, $2, $3)",
    )
    .bind(kid)
    .bind(private_sealed)
    .bind(public_key)
    .execute(db)
    .await?;
    Ok(())
}

/// Retires every API key but `keep`: they still verify, but no longer sign.
pub async fn retire_api_keys_except(db: &PgPool, keep: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_signing_keys SET retired_at = now() WHERE kid <> $1 AND retired_at IS NULL",
    )
    .bind(keep)
    .execute(db)
    .await?;
    Ok(())
}

/// The public key that verifies tokens with this `kid`: an API key (any, retired included) or an
/// unrevoked signing key of `tenant_id`.
pub async fn verifying_key(
    db: &PgPool,
    kid: &str,
    tenant_id: Uuid,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT public_key FROM api_signing_keys WHERE kid = $1
         UNION ALL
         SELECT public_key FROM tenant_signing_keys WHERE kid = $1 AND tenant_id = $2 AND revoked_at IS NULL
         LIMIT 1",
    )
    .bind(kid)
    .bind(tenant_id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct TenantKeyRow {
    pub kid: String,
    pub name: String,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert_tenant_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kid: &str,
    name: &str,
    public_key: &[u8],
) -> sqlx::Result<TenantKeyRow> {
    sqlx::query_as(
        "INSERT INTO tenant_signing_keys (kid, tenant_id, name, public_key) VALUES ($1, $2, $3, $4)
         RETURNING kid, name, public_key, created_at, revoked_at",
    )
    .bind(kid)
    .bind(tenant_id)
    .bind(name)
    .bind(public_key)
    .fetch_one(conn)
    .await
}

pub async fn list_tenant_keys(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<TenantKeyRow>> {
    sqlx::query_as(
        "SELECT kid, name, public_key, created_at, revoked_at FROM tenant_signing_keys
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, kid) < ($2, $3))
         ORDER BY created_at DESC, kid DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id.clone()).unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

pub async fn revoke_tenant_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kid: &str,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE tenant_signing_keys SET revoked_at = now() WHERE tenant_id = $1 AND kid = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(kid)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
