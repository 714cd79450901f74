//! `/v1/api-tokens`: create (secret shown once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::error::{ApiError, Problem};
use super::extract::{ClientIp, Cursor, JsonBody, Page, PageQuery, Principal, QueryParams};
use super::views::{ApiTokenView, CreatedApiToken};
use crate::domain::credentials::{self, Kind};
use crate::domain::role::Role;
use crate::domain::validate::Errors;
use crate::store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// What the token is for, 1–100 characters.
    pub name: String,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}

/// Generates and stores a token; the answer carries the only copy of the secret.
pub async fn issue_token(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
    created_by: Option<Uuid>,
    role: Role,
) -> Result<CreatedApiToken, ApiError> {
    let issued = credentials::issue(Kind::ApiToken);
    let row = store::api_tokens::insert(
        conn,
        tenant_id,
        &issued.id,
        name.trim(),
        &issued.hash,
        created_by,
        role.as_str(),
    )
    .await?;
    Ok(CreatedApiToken {
        prefix: credentials::prefix(Kind::ApiToken, &row.id),
        role,
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        token: issued.full,
    })
}

/// Create an API token. `token` is shown once. The token acts with the caller's role.
#[utoipa::path(post, path = "/v1/api-tokens", tag = "api-tokens", request_body = CreateApiToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = CreatedApiToken), (status = 422, body = Problem)))]
pub async fn create(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<CreateApiToken>,
) -> Result<(StatusCode, axum::Json<CreatedApiToken>), ApiError> {
    let mut errors = Errors::default();
    errors.name("name", &body.name);
    ApiError::check(errors)?;
    let mut tx = ctx.db.begin().await?;
    let created = issue_token(
        &mut tx,
        principal.tenant_id,
        &body.name,
        principal.person(),
        principal.role,
    )
    .await?;
    super::audit::record(
        &mut tx,
        &principal,
        ip,
        "api_token.created",
        ("api_token", &created.id),
        serde_json::json!({"name": created.name, "prefix": created.prefix, "role": principal.role}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, token_id = %created.id, by = %principal.describe(), "api token created");
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// List active API tokens, newest first.
#[utoipa::path(get, path = "/v1/api-tokens", tag = "api-tokens", params(PageQuery),
    responses((status = 200, body = Page<ApiTokenView>)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<ApiTokenView>>, ApiError> {
    let limit = q.limit()?;
    let rows =
        store::api_tokens::list(&ctx.db, principal.tenant_id, q.cursor()?.as_ref(), limit).await?;
    let views = rows.into_iter().map(ApiTokenView::from).collect();
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |t: &ApiTokenView| Cursor::encode(t.created_at, &t.id),
    )))
}

/// Revoke an API token at once.
#[utoipa::path(delete, path = "/v1/api-tokens/{id}", tag = "api-tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut tx = ctx.db.begin().await?;
    if store::api_tokens::revoke(&mut tx, principal.tenant_id, &id).await? {
        super::audit::record(
            &mut tx,
            &principal,
            ip,
            "api_token.revoked",
            ("api_token", &id),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(tenant = %principal.tenant_id, token_id = %id, by = %principal.describe(), "api token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
