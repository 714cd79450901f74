//! Tenants and their users.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::limits::Limits;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    /// `None` for an invited member who has not set a password yet.
    pub password_hash: Option<String>,
    /// `owner`, `admin` or `viewer`.
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// The columns of a `UserRow`.
pub const USER_COLUMNS: &str = "id, tenant_id, email, password_hash, role, created_at";

pub async fn insert_tenant(conn: &mut PgConnection, name: &str) -> sqlx::Result<TenantRow> {
    sqlx::query_as(
        "INSERT INTO tenants (id, name, default_limits) VALUES ($1, $2, $3)
         RETURNING id, name, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(sqlx::types::Json(Limits::default()))
    .fetch_one(conn)
    .await
}

/// A tenant's first user: an owner with a password.
pub async fn insert_user(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, tenant_id, email, password_hash, role) VALUES ($1, $2, $3, $4, 'owner')
         RETURNING {USER_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(email)
    .bind(password_hash)
    .fetch_one(conn)
    .await
}

/// A user by email (case-insensitive), only when the tenant is not suspended.
pub async fn user_by_email(db: &PgPool, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.tenant_id, u.email, u.password_hash, u.role, u.created_at
         FROM users u JOIN tenants t ON t.id = u.tenant_id
         WHERE lower(u.email) = lower($1) AND t.suspended_at IS NULL",
    )
    .bind(email)
    .fetch_optional(db)
    .await
}

pub async fn tenant(db: &PgPool, tenant_id: Uuid) -> sqlx::Result<TenantRow> {
    sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(db)
        .await
}

pub async fn user(db: &PgPool, tenant_id: Uuid, user_id: Uuid) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

pub async fn default_limits(conn: &mut PgConnection, tenant_id: Uuid) -> sqlx::Result<Limits> {
    let sqlx::types::Json(limits): sqlx::types::Json<Limits> =
        sqlx::query_scalar("SELECT default_limits FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_one(conn)
            .await?;
    Ok(limits)
}

pub async fn ip_allowlist(db: &PgPool, tenant_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT ip_allowlist FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(db)
        .await
}

pub async fn set_ip_allowlist(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    list: &[String],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tenants SET ip_allowlist = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(list)
        .execute(conn)
        .await?;
    Ok(())
}
