//! The tenant's audit log: who (user or token) did what to which credential, when, from where.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::cursor::Cursor;

/// One audit entry to write.
pub struct Entry<'a> {
    pub tenant_id: Uuid,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
}

pub async fn insert(conn: &mut PgConnection, e: Entry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor, action, target_type, target_id, details, client_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(e.tenant_id)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target_type)
    .bind(e.target_id)
    .bind(e.details)
    .bind(e.client_ip)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, target_type, target_id, details, client_ip FROM audit_log
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (at, id) < ($2, $3))
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(
        after
            .and_then(|c| Uuid::parse_str(&c.id).ok())
            .unwrap_or_default(),
    )
    .bind(limit + 1)
    .fetch_all(db)
    .await
}
