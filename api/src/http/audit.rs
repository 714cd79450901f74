//! `/v1/audit-log`: who (user or token) rotated, revoked or minted what, when and from where. Also the
//! helper every credential-changing handler calls to write an entry in its own transaction.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::error::ApiError;
use super::extract::{ClientIp, Cursor, Page, PageQuery, Principal, QueryParams};
use crate::store;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `user:<id>` or `token:<id>`.
    pub actor: String,
    /// e.g. `stream_key.rotated`, `stream_key.revoked`, `publish_token.minted`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Writes an audit entry for the calling principal.
pub async fn record(
    conn: &mut PgConnection,
    principal: &Principal,
    ip: ClientIp,
    action: &str,
    target: (&str, &str),
    details: serde_json::Value,
) -> Result<(), ApiError> {
    store::audit::insert(
        conn,
        store::audit::Entry {
            tenant_id: principal.tenant_id,
            actor: &principal.describe(),
            action,
            target_type: target.0,
            target_id: target.1,
            details,
            client_ip: ip.text(),
        },
    )
    .await?;
    Ok(())
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(PageQuery),
    responses((status = 200, body = Page<AuditEntry>)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<AuditEntry>>, ApiError> {
    let limit = q.limit()?;
    let rows =
        store::audit::list(&ctx.db, principal.tenant_id, q.cursor()?.as_ref(), limit).await?;
    let entries = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            details: r.details,
            client_ip: r.client_ip,
        })
        .collect();
    Ok(axum::Json(Page::from_rows(
        entries,
        limit,
        |e: &AuditEntry| Cursor::encode(e.at, e.id),
    )))
}
