//! Dashboard authentication: `POST /v1/auth/login` (sets the `HttpOnly` session cookie and returns
//! the CSRF token), `POST /v1/auth/logout`, `POST /v1/auth/signup` (only with `INLET_SIGNUP=open`),
//! and `GET /v1/me` for any principal.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiContext;
use super::admin::{CreateTenant, create_tenant_with_owner};
use super::auth::SESSION_COOKIE;
use super::error::{ApiError, Problem};
use super::extract::{Actor, ClientIp, JsonBody, Principal};
use super::views::{TenantCreated, TenantView, UserView};
use crate::config::Signup;
use crate::domain::credentials::{self, Kind};
use crate::domain::password;
use crate::domain::role::Role;
use crate::domain::validate::Errors;
use crate::store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    pub user: UserView,
    pub tenant: TenantView,
    /// Send as `X-CSRF-Token` on every cookie-authenticated write.
    pub csrf_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub tenant: TenantView,
    /// What the caller may do: the user's role, or the API token's.
    pub role: Role,
    /// The logged-in user, for dashboard sessions.
    pub user: Option<UserView>,
    /// The API token's id, for token callers.
    pub api_token_id: Option<String>,
    /// The CSRF token of a dashboard session.
    pub csrf_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    pub tenant_name: String,
    pub email: String,
    pub password: String,
}

/// Routes that need no credentials.
pub fn public_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(signup))
}

/// Routes that need a principal.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
}

fn session_cookie(
    ctx: &ApiContext,
    value: &str,
    max_age_secs: i64,
) -> Result<HeaderValue, ApiError> {
    let secure = if ctx.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|e| ApiError::Internal(e.into()))
}

/// Starts a session for a user: stores the hashed secret, answers the cookie and the CSRF token.
pub(super) async fn start_session(
    ctx: &ApiContext,
    user: &store::tenants::UserRow,
    ip: ClientIp,
) -> Result<(HeaderValue, String), ApiError> {
    let issued = credentials::issue(Kind::Session);
    let ttl = chrono::Duration::hours(ctx.config.session_ttl_hours.max(1));
    store::sessions::insert(
        &ctx.db,
        &issued.id,
        user.tenant_id,
        user.id,
        &issued.hash,
        ip.text(),
        ttl,
    )
    .await?;
    let secret = credentials::parse(Kind::Session, &issued.full)
        .map(|(_, s)| s.to_string())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("session credential malformed")))?;
    Ok((
        session_cookie(ctx, &issued.full, ttl.num_seconds())?,
        credentials::csrf_token(&secret),
    ))
}

/// Log in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Login,
    security(()),
    responses((status = 200, body = LoginAnswer), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn login(
    State(ctx): State<ApiContext>,
    ip: ClientIp,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let user = store::tenants::user_by_email(&ctx.db, body.email.trim()).await?;
    let pw = body.password.clone();
    // An invited member without a password yet takes the same time as an unknown email.
    let verified = match user.as_ref().and_then(|u| u.password_hash.clone()) {
        Some(phc) => tokio::task::spawn_blocking(move || password::verify(&pw, &phc))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?,
        None => {
            tokio::task::spawn_blocking(move || password::dummy_verify(&pw))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::Unauthorized("Wrong email or password.".into()));
    };
    let (cookie, csrf_token) = start_session(&ctx, &user, ip).await?;
    let tenant = store::tenants::tenant(&ctx.db, user.tenant_id).await?;
    tracing::info!(tenant = %user.tenant_id, user = %user.id, "user logged in");
    let answer = LoginAnswer {
        user: user.into(),
        tenant: tenant.into(),
        csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(answer)).into_response())
}

/// Log out: ends the dashboard session and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<Response, ApiError> {
    if let Actor::User { session_id, .. } = &principal.actor {
        store::sessions::delete(&ctx.db, principal.tenant_id, session_id).await?;
    }
    let cookie = session_cookie(&ctx, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Who am I: the tenant, and the user or token calling.
#[utoipa::path(get, path = "/v1/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<axum::Json<Me>, ApiError> {
    let tenant = store::tenants::tenant(&ctx.db, principal.tenant_id).await?;
    let me = match &principal.actor {
        Actor::User {
            user_id,
            csrf_token,
            ..
        } => Me {
            tenant: tenant.into(),
            role: principal.role,
            user: Some(
                store::tenants::user(&ctx.db, principal.tenant_id, *user_id)
                    .await?
                    .into(),
            ),
            api_token_id: None,
            csrf_token: Some(csrf_token.clone()),
        },
        Actor::ApiToken { token_id, .. } => Me {
            tenant: tenant.into(),
            role: principal.role,
            user: None,
            api_token_id: Some(token_id.clone()),
            csrf_token: None,
        },
    };
    Ok(axum::Json(me))
}

/// Public sign-up (only when `INLET_SIGNUP=open`): creates a tenant, its owner and a first API
/// token, and logs the owner in.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupBody, security(()),
    responses((status = 201, body = TenantCreated), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn signup(
    State(ctx): State<ApiContext>,
    ip: ClientIp,
    JsonBody(body): JsonBody<SignupBody>,
) -> Result<Response, ApiError> {
    if ctx.config.signup != Signup::Open {
        return Err(ApiError::Forbidden(
            "Sign-up is closed on this server; ask the operator for an account.".into(),
        ));
    }
    let mut errors = Errors::default();
    errors.name("tenant_name", &body.tenant_name);
    ApiError::check(errors)?;
    let created = create_tenant_with_owner(
        &ctx,
        &CreateTenant {
            name: body.tenant_name,
            owner_email: body.email.clone(),
            owner_password: body.password,
        },
    )
    .await
    .map_err(|e| match e {
        // Name the fields as this route calls them.
        ApiError::Validation(errs) => ApiError::Validation(
            errs.into_iter()
                .map(|mut f| {
                    f.field = match f.field.as_str() {
                        "name" => "tenant_name".into(),
                        "owner_email" => "email".into(),
                        "owner_password" => "password".into(),
                        _ => f.field,
                    };
                    f
                })
                .collect(),
        ),
        other => other,
    })?;
    let user = store::tenants::user(&ctx.db, created.tenant.id, created.owner.id).await?;
    let (cookie, _) = start_session(&ctx, &user, ip).await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        axum::Json(created),
    )
        .into_response())
}
