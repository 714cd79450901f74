//! `/v1/members`: the tenant's team. List, invite (`{email, role}`; the answer carries a one-time
//! password-reset link the inviter hands over, since Inlet sends no email), change a role, remove,
//! and issue a reset link. `POST /v1/auth/password-reset` spends a link (public, limited per
//! address like login). Who may do what: `domain::role`; a viewer's writes are refused earlier, by
//! the auth middleware.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::audit;
use super::error::{ApiError, OnConstraint, Problem};
use super::extract::{
    ClientIp, Cursor, JsonBody, Page, PageQuery, Principal, QueryParams, path_uuid,
};
use super::login::{LoginAnswer, start_session};
use super::views::MemberView;
use crate::domain::credentials::{self, Kind};
use crate::domain::password;
use crate::domain::role::{Role, may_manage};
use crate::domain::validate::Errors;
use crate::store;
use crate::store::tenants::UserRow;

/// How long a password-reset link works.
pub const RESET_TTL_HOURS: i64 = 24;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteMember {
    /// Their email, unique across the instance; they log in with it.
    pub email: String,
    /// An admin may invite `admin` or `viewer`; only an owner may invite an `owner`.
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMember {
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseReset {
    /// The `rst_<id>_<secret>` token of the link.
    pub token: String,
    /// The new password, 10–256 characters.
    pub password: String,
}

/// A one-time password-reset link. `reset_token` is shown this once and stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetIssued {
    pub reset_token: String,
    /// The dashboard page that sets the password: `<public API URL>/#/reset?token=<reset_token>`.
    pub reset_url: String,
    pub expires_at: DateTime<Utc>,
}

/// An invited member and the link that lets them set their password (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberInvited {
    pub member: MemberView,
    pub reset_token: String,
    pub reset_url: String,
    pub expires_at: DateTime<Utc>,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        .routes(routes!(change, remove))
        .routes(routes!(issue_reset))
}

/// Routes that need no credentials.
pub fn public_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(use_reset))
}

/// A new reset link for `user` (replacing older ones), issued by `created_by`.
pub struct NewReset {
    pub issued: ResetIssued,
    pub id: String,
    /// The ids of unused links it replaced.
    pub replaced: Vec<String>,
}

impl NewReset {
    /// What the audit log keeps of it (never the token).
    pub fn audit_details(&self, user: &UserRow) -> serde_json::Value {
        json!({"email": user.email, "reset_id": self.id, "expires_at": self.issued.expires_at,
               "replaced_reset_ids": self.replaced})
    }
}

/// Generates and stores a reset link for `user`; the answer holds the only copy of its secret.
pub async fn new_reset(
    ctx: &ApiContext,
    conn: &mut PgConnection,
    user: &UserRow,
    created_by: &str,
) -> Result<NewReset, ApiError> {
    let issued = credentials::issue(Kind::PasswordReset);
    let expires_at = Utc::now() + chrono::Duration::hours(RESET_TTL_HOURS);
    let replaced = store::members::insert_reset(
        conn,
        store::members::NewReset {
            id: &issued.id,
            tenant_id: user.tenant_id,
            user_id: user.id,
            secret_hash: &issued.hash,
            created_by,
            expires_at,
        },
    )
    .await?;
    Ok(NewReset {
        issued: ResetIssued {
            reset_url: format!(
                "{}/#/reset?token={}",
                ctx.config.public_api_url(),
                issued.full
            ),
            reset_token: issued.full,
            expires_at,
        },
        id: issued.id,
        replaced,
    })
}

fn last_owner_problem(user: &UserRow) -> ApiError {
    ApiError::Conflict(format!(
        "{} is the organization's last owner; make another member owner first.",
        user.email
    ))
}

/// The member a change or removal is about, locked together with the tenant's owners (so the
/// "last owner" rule holds under concurrent changes), once the caller may give them `new` (or, with
/// `None`, remove them).
struct Target {
    user: UserRow,
    id: Uuid,
    role: Role,
    /// The member is the tenant's only owner.
    last_owner: bool,
}

impl Target {
    async fn lock(
        conn: &mut PgConnection,
        principal: &Principal,
        raw_id: &str,
        new: Option<Role>,
    ) -> Result<Target, ApiError> {
        let id = path_uuid(raw_id)?;
        let owners = store::members::lock_owners(conn, principal.tenant_id).await?;
        let user = store::members::for_update(conn, principal.tenant_id, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let role = Role::from_db(&user.role);
        may_manage(principal.role, role, new).map_err(ApiError::Forbidden)?;
        Ok(Target {
            user,
            id,
            role,
            last_owner: role == Role::Owner && owners.len() <= 1,
        })
    }
}

/// The tenant's members, newest first.
#[utoipa::path(get, path = "/v1/members", tag = "members", params(PageQuery),
    responses((status = 200, body = Page<MemberView>)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<MemberView>>, ApiError> {
    let limit = q.limit()?;
    let rows =
        store::members::list(&ctx.db, principal.tenant_id, q.cursor()?.as_ref(), limit).await?;
    let views = rows.into_iter().map(MemberView::from).collect();
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |m: &MemberView| Cursor::encode(m.created_at, m.id),
    )))
}

/// Invite a member: creates them with a role and no password, and answers a one-time link (24 h)
/// through which they set it. Hand the link over yourself; Inlet sends no email.
#[utoipa::path(post, path = "/v1/members", tag = "members", request_body = InviteMember,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = MemberInvited), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn invite(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<InviteMember>,
) -> Result<(StatusCode, axum::Json<MemberInvited>), ApiError> {
    let email = body.email.trim();
    let mut errors = Errors::default();
    errors.email("email", email);
    ApiError::check(errors)?;
    may_manage(principal.role, Role::Viewer, Some(body.role)).map_err(ApiError::Forbidden)?;
    let mut tx = ctx.db.begin().await?;
    let user = store::members::insert(&mut tx, principal.tenant_id, email, body.role.as_str())
        .await
        .on_constraint("users_email_key", || {
            ApiError::Conflict("A user with this email already exists.".into())
        })?;
    let reset = new_reset(&ctx, &mut tx, &user, &principal.describe()).await?;
    let target = user.id.to_string();
    audit::record(
        &mut tx,
        &principal,
        ip,
        "member.invited",
        ("user", &target),
        json!({"email": user.email, "role": body.role, "reset_id": reset.id}),
    )
    .await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "password_reset.issued",
        ("user", &target),
        reset.audit_details(&user),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, user = %user.id, role = %body.role, by = %principal.describe(), "member invited");
    Ok((
        StatusCode::CREATED,
        axum::Json(MemberInvited {
            member: user.into(),
            reset_token: reset.issued.reset_token,
            reset_url: reset.issued.reset_url,
            expires_at: reset.issued.expires_at,
        }),
    ))
}

/// Change a member's role. The API tokens they created are lowered to the new role (never raised).
#[utoipa::path(patch, path = "/v1/members/{id}", tag = "members", request_body = ChangeMember,
    params(("id" = String, Path, description = "Member (user) id")),
    responses((status = 200, body = MemberView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn change(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ChangeMember>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let mut tx = ctx.db.begin().await?;
    let Target {
        user: target,
        id,
        role: was,
        last_owner,
    } = Target::lock(&mut tx, &principal, &id, Some(body.role)).await?;
    if was == body.role {
        return Ok(axum::Json(target.into()));
    }
    if last_owner {
        return Err(last_owner_problem(&target));
    }
    let (user, lowered) =
        store::members::set_role(&mut tx, principal.tenant_id, id, body.role.as_str()).await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "member.role_changed",
        ("user", &id.to_string()),
        json!({"email": user.email, "role": body.role, "was": was, "lowered_api_token_ids": lowered}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, user = %id, role = %body.role, %was, by = %principal.describe(), "member role changed");
    Ok(axum::Json(user.into()))
}

/// Remove a member: ends their dashboard sessions and revokes the API tokens they created. The last
/// owner cannot be removed.
#[utoipa::path(delete, path = "/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "Member (user) id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut tx = ctx.db.begin().await?;
    let Target {
        user: target,
        id,
        role,
        last_owner,
    } = Target::lock(&mut tx, &principal, &id, None).await?;
    if last_owner {
        return Err(last_owner_problem(&target));
    }
    let removed = store::members::delete(&mut tx, principal.tenant_id, id).await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "member.removed",
        ("user", &id.to_string()),
        json!({"email": target.email, "role": role, "revoked_api_token_ids": removed.revoked_token_ids,
               "ended_sessions": removed.ended_sessions}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, user = %id, by = %principal.describe(), "member removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a one-time password-reset link (24 h) for a member; it replaces their older links. Anyone
/// may ask for their own; owners and admins for others (only owners for an owner).
#[utoipa::path(post, path = "/v1/members/{id}/password-reset", tag = "members",
    params(("id" = String, Path, description = "Member (user) id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = ResetIssued), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn issue_reset(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<ResetIssued>), ApiError> {
    let id = path_uuid(&id)?;
    let mut tx = ctx.db.begin().await?;
    let target = store::members::for_update(&mut tx, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if principal.user_id() != Some(id) {
        may_manage(principal.role, Role::from_db(&target.role), None)
            .map_err(ApiError::Forbidden)?;
    }
    let reset = new_reset(&ctx, &mut tx, &target, &principal.describe()).await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "password_reset.issued",
        ("user", &id.to_string()),
        reset.audit_details(&target),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, user = %id, by = %principal.describe(), "password reset issued");
    Ok((StatusCode::CREATED, axum::Json(reset.issued)))
}

/// Set a new password with a reset link's token. The link works once, for 24 h. Every dashboard
/// session of the user ends, and the caller is logged in (session cookie, like login).
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = UseReset, security(()),
    responses((status = 200, body = LoginAnswer), (status = 422, body = Problem)))]
pub async fn use_reset(
    State(ctx): State<ApiContext>,
    ip: ClientIp,
    JsonBody(body): JsonBody<UseReset>,
) -> Result<Response, ApiError> {
    let parsed = credentials::parse(Kind::PasswordReset, body.token.trim());
    let mut errors = Errors::default();
    if parsed.is_none() {
        errors.add(
            "token",
            "is not a password-reset token (rst_<id>_<secret>); copy the whole link",
        );
    }
    errors.password("password", &body.password);
    ApiError::check(errors)?;
    let Some((id, secret)) = parsed else {
        return Err(ApiError::field("token", "is not a password-reset token"));
    };
    let mut tx = ctx.db.begin().await?;
    let reset = store::members::reset_for_use(&mut tx, id)
        .await?
        .filter(|r| credentials::verify(Kind::PasswordReset, secret, &r.secret_hash))
        .ok_or_else(|| {
            ApiError::field(
                "token",
                "is not a valid reset link (a newer link replaces older ones); ask for a new one",
            )
        })?;
    if reset.used_at.is_some() {
        return Err(ApiError::field(
            "token",
            "has already been used; ask an owner or admin for a new link",
        ));
    }
    if reset.expired {
        return Err(ApiError::field(
            "token",
            "has expired; ask an owner or admin for a new link",
        ));
    }
    let pw = body.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let ended = store::members::use_reset(&mut tx, &reset, &hash).await?;
    let actor = format!("user:{}", reset.user_id);
    store::audit::insert(
        &mut tx,
        store::audit::Entry {
            tenant_id: reset.tenant_id,
            actor: &actor,
            action: "password_reset.used",
            target_type: "user",
            target_id: &reset.user_id.to_string(),
            details: json!({"reset_id": reset.id, "ended_sessions": ended}),
            client_ip: ip.text(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %reset.tenant_id, user = %reset.user_id, "password reset used");
    let user = store::tenants::user(&ctx.db, reset.tenant_id, reset.user_id).await?;
    let (cookie, csrf_token) = start_session(&ctx, &user, ip).await?;
    let tenant = store::tenants::tenant(&ctx.db, user.tenant_id).await?;
    let answer = LoginAnswer {
        user: user.into(),
        tenant: tenant.into(),
        csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(answer)).into_response())
}
