//! Operator routes (`/admin/v1`): bootstrap tenants. Also the one function that creates a tenant
//! with its owner and first API token, shared by public sign-up and the all-in-one's first start.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiContext;
use super::api_tokens::issue_token;
use super::error::{ApiError, OnConstraint, Problem};
use super::extract::{ClientIp, JsonBody};
use super::members::{ResetIssued, new_reset};
use super::views::TenantCreated;
use crate::domain::password;
use crate::domain::role::Role;
use crate::domain::validate::Errors;
use crate::store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Organization name, 1–100 characters.
    pub name: String,
    /// The first user's email; they can log in to the dashboard.
    pub owner_email: String,
    /// The first user's password, 10–256 characters.
    pub owner_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorReset {
    /// The email of the user who cannot log in (any tenant).
    pub email: String,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(reset_password))
}

/// Issue a one-time password-reset link (24 h) for any user, e.g. a locked-out owner. Hand the
/// link to them; it replaces their older links, and their password works until the link is used.
#[utoipa::path(post, path = "/admin/v1/users/password-reset", tag = "admin", request_body = OperatorReset,
    security(("operator" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = ResetIssued), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn reset_password(
    State(ctx): State<ApiContext>,
    ip: ClientIp,
    JsonBody(body): JsonBody<OperatorReset>,
) -> Result<(StatusCode, axum::Json<ResetIssued>), ApiError> {
    let email = body.email.trim();
    let mut errors = Errors::default();
    errors.email("email", email);
    ApiError::check(errors)?;
    let mut tx = ctx.db.begin().await?;
    let user = store::members::by_email_for_update(&mut tx, email)
        .await?
        .ok_or(ApiError::NotFound)?;
    let reset = new_reset(&ctx, &mut tx, &user, "operator").await?;
    store::audit::insert(
        &mut tx,
        store::audit::Entry {
            tenant_id: user.tenant_id,
            actor: "operator",
            action: "password_reset.issued",
            target_type: "user",
            target_id: &user.id.to_string(),
            details: reset.audit_details(&user),
            client_ip: ip.text(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %user.tenant_id, user = %user.id, "operator issued a password reset");
    Ok((StatusCode::CREATED, axum::Json(reset.issued)))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SigningKeyRotated {
    /// The `kid` that signs publish tokens from now on; older keys keep verifying.
    pub kid: String,
}

/// Rotate the API's own publish-token signing key. Tokens signed by older keys stay valid until
/// they expire.
#[utoipa::path(post, path = "/admin/v1/publish-signing-key/rotate", tag = "admin", security(("operator" = [])),
    responses((status = 201, body = SigningKeyRotated), (status = 401, body = Problem)))]
pub async fn rotate_signing_key(
    State(ctx): State<ApiContext>,
) -> Result<(StatusCode, axum::Json<SigningKeyRotated>), ApiError> {
    let (kid, _) = super::publish_tokens::rotate_api_signing_key(&ctx).await?;
    Ok((StatusCode::CREATED, axum::Json(SigningKeyRotated { kid })))
}

/// Create a tenant with its owner and a first API token (secret shown once).
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "admin", request_body = CreateTenant,
    security(("operator" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = TenantCreated), (status = 401, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn create_tenant(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, axum::Json<TenantCreated>), ApiError> {
    let created = create_tenant_with_owner(&ctx, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Validates and creates a tenant, its owner and its first API token, in one transaction.
pub async fn create_tenant_with_owner(
    ctx: &ApiContext,
    body: &CreateTenant,
) -> Result<TenantCreated, ApiError> {
    let mut errors = Errors::default();
    errors.name("name", &body.name);
    errors.email("owner_email", &body.owner_email);
    errors.password("owner_password", &body.owner_password);
    ApiError::check(errors)?;
    let pw = body.owner_password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let mut tx = ctx.db.begin().await?;
    let tenant = store::tenants::insert_tenant(&mut tx, body.name.trim()).await?;
    let owner = store::tenants::insert_user(&mut tx, tenant.id, body.owner_email.trim(), &hash)
        .await
        .on_constraint("users_email_key", || {
            ApiError::Conflict("A user with this email already exists.".into())
        })?;
    let api_token = issue_token(&mut tx, tenant.id, "initial", Some(owner.id), Role::Owner).await?;
    tx.commit().await?;
    Ok(TenantCreated {
        tenant: tenant.into(),
        owner: owner.into(),
        api_token,
    })
}
