//! A tenant's members (the `users` table seen as a team) and their one-time password-reset links.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::cursor::Cursor;
use crate::store::tenants::{USER_COLUMNS, UserRow};

/// An invited member: a role, no password until they use their reset link.
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    email: &str,
    role: &str,
) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, tenant_id, email, password_hash, role) VALUES ($1, $2, $3, NULL, $4)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(email)
    .bind(role)
    .fetch_one(conn)
    .await
}

/// A tenant's members, newest first, `limit + 1` rows from `after`.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<UserRow>> {
    let after_id = after.and_then(|c| Uuid::parse_str(&c.id).ok());
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(after_id.unwrap_or(Uuid::max()))
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

/// Locks the tenant's owners (in id order, so concurrent changes queue instead of deadlocking) and
/// answers their ids: the "last owner" rule is decided under this lock.
pub async fn lock_owners(conn: &mut PgConnection, tenant_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY id FOR UPDATE",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

/// A member of the tenant, locked for a change.
pub async fn for_update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// A user of any tenant by email (case-insensitive), locked: the operator's reset.
pub async fn by_email_for_update(
    conn: &mut PgConnection,
    email: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) FOR UPDATE"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await
}

/// Sets a member's role. The API tokens they created never act above it: tokens with a higher role
/// are lowered to it (a promotion raises no token). Answers the ids of the lowered tokens.
pub async fn set_role(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> sqlx::Result<(UserRow, Vec<String>)> {
    let user: UserRow = sqlx::query_as(&format!(
        "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {USER_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
    .fetch_one(&mut *conn)
    .await?;
    let lowered = sqlx::query_scalar(
        "UPDATE api_tokens SET role = $3
         WHERE tenant_id = $1 AND created_by_user_id = $2 AND revoked_at IS NULL
           AND array_position(ARRAY['viewer', 'admin', 'owner'], role)
             > array_position(ARRAY['viewer', 'admin', 'owner'], $3)
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
    .fetch_all(&mut *conn)
    .await?;
    Ok((user, lowered))
}

/// What removing a member ended besides the member.
pub struct Removed {
    pub revoked_token_ids: Vec<String>,
    pub ended_sessions: i64,
}

/// Removes a member: revokes the API tokens they created, then deletes the user (their dashboard
/// sessions and reset links go with it).
pub async fn delete(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Removed> {
    let revoked_token_ids = sqlx::query_scalar(
        "UPDATE api_tokens SET revoked_at = now()
         WHERE tenant_id = $1 AND created_by_user_id = $2 AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let ended_sessions =
        sqlx::query("DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected() as i64;
    sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(Removed {
        revoked_token_ids,
        ended_sessions,
    })
}

/// A reset link to store (the secret only as its hash).
pub struct NewReset<'a> {
    pub id: &'a str,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub secret_hash: &'a [u8],
    pub created_by: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Stores a reset link; it replaces every older link of the user. Answers the ids of the unused
/// links it replaced.
pub async fn insert_reset(conn: &mut PgConnection, r: NewReset<'_>) -> sqlx::Result<Vec<String>> {
    let replaced: Vec<Option<String>> = sqlx::query_scalar(
        "DELETE FROM password_resets WHERE tenant_id = $1 AND user_id = $2
         RETURNING CASE WHEN used_at IS NULL THEN id END",
    )
    .bind(r.tenant_id)
    .bind(r.user_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO password_resets (id, tenant_id, user_id, secret_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.user_id)
    .bind(r.secret_hash)
    .bind(r.created_by)
    .bind(r.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(replaced.into_iter().flatten().collect())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ResetRow {
    pub id: String,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub secret_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    /// Whether it has expired, by the database's clock.
    pub expired: bool,
}

/// A reset link by its public id, locked so that two uses of one link cannot both succeed; only
/// for a tenant that is not suspended.
pub async fn reset_for_use(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<ResetRow>> {
    sqlx::query_as(
        "SELECT r.id, r.tenant_id, r.user_id, r.secret_hash, r.expires_at, r.used_at,
                r.expires_at <= now() AS expired
         FROM password_resets r JOIN tenants t ON t.id = r.tenant_id
         WHERE r.id = $1 AND t.suspended_at IS NULL
         FOR UPDATE OF r",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Spends a reset link: sets the user's password, marks the link used, and ends every dashboard
/// session of the user. Answers how many sessions ended.
pub async fn use_reset(
    conn: &mut PgConnection,
    reset: &ResetRow,
    password_hash: &str,
) -> sqlx::Result<i64> {
    sqlx::query("UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(reset.tenant_id)
        .bind(reset.user_id)
        .bind(password_hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE password_resets SET used_at = now() WHERE id = $1")
        .bind(&reset.id)
        .execute(&mut *conn)
        .await?;
    let ended = sqlx::query("DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2")
        .bind(reset.tenant_id)
        .bind(reset.user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(ended as i64)
}
