//! Authentication and rate limiting middleware. Resolves the caller from `Authorization: Bearer
//! inlet_<id>_<secret>` or the dashboard's session cookie (with a CSRF header on writes), applies
//! the per-token and per-tenant limits, refuses the writes of a `viewer` (the one place roles gate
//! methods), and stamps `X-RateLimit-*` on every answer. Also the operator check of `/admin/v1` and
//! the per-address limit of unauthenticated routes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiContext;
use super::error::ApiError;
use super::extract::{Actor, ClientIp, Principal};
use crate::domain::credentials::{self, Kind};
use crate::domain::role::Role;
use crate::ratelimit::Decision;
use crate::store;

/// Name of the dashboard session cookie.
pub const SESSION_COOKIE: &str = "inlet_session";
/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn resolve(
    ctx: &ApiContext,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Principal, ApiError> {
    if let Some(presented) = bearer(headers) {
        let Some((id, secret)) = credentials::parse(Kind::ApiToken, presented) else {
            return Err(ApiError::Unauthorized(
                "The bearer token is not an Inlet API token (inlet_<id>_<secret>).".into(),
            ));
        };
        let row = store::api_tokens::for_auth(&ctx.db, id).await?;
        return match row {
            Some(row) if credentials::verify(Kind::ApiToken, secret, &row.secret_hash) => {
                store::api_tokens::touch(&ctx.db, row.tenant_id, id).await?;
                Ok(Principal {
                    tenant_id: row.tenant_id,
                    actor: Actor::ApiToken {
                        token_id: id.to_string(),
                        created_by: row.created_by_user_id,
                    },
                    role: Role::from_db(&row.role),
                })
            }
            _ => Err(ApiError::Unauthorized(
                "The API token is unknown or revoked.".into(),
            )),
        };
    }
    if let Some(presented) = cookie(headers, SESSION_COOKIE) {
        let Some((id, secret)) = credentials::parse(Kind::Session, presented) else {
            return Err(ApiError::Unauthorized(
                "The session cookie is malformed; log in again.".into(),
            ));
        };
        let row = store::sessions::for_auth(&ctx.db, id).await?;
        let Some(row) = row.filter(|r| credentials::verify(Kind::Session, secret, &r.secret_hash))
        else {
            return Err(ApiError::Unauthorized(
                "The session has expired; log in again.".into(),
            ));
        };
        let csrf_token = credentials::csrf_token(secret);
        if !is_safe(method) {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|s| credentials::ct_eq_str(s, &csrf_token)) {
                return Err(ApiError::Forbidden(
                    "Cookie-authenticated writes need the X-CSRF-Token header from the login answer or GET /v1/me.".into(),
                ));
            }
        }
        return Ok(Principal {
            tenant_id: row.tenant_id,
            actor: Actor::User {
                user_id: row.user_id,
                session_id: id.to_string(),
                csrf_token,
            },
            role: Role::from_db(&row.role),
        });
    }
    Err(ApiError::Unauthorized(
        "Send `Authorization: Bearer inlet_<id>_<secret>` or log in.".into(),
    ))
}

/// Whether the principal's role lets it make this request. A `viewer` may only read (GET, HEAD,
/// OPTIONS); the exceptions are logging out and asking for a reset link for their own password.
/// Rules that depend on the target (an admin may not change an owner) live with the members routes.
pub fn role_allows(principal: &Principal, method: &Method, path: &str) -> Result<(), ApiError> {
    if principal.role.can_write() || is_safe(method) {
        return Ok(());
    }
    let own_reset = principal
        .user_id()
        .is_some_and(|me| path == format!("/v1/members/{me}/password-reset"));
    if *method == Method::POST && (path == "/v1/auth/logout" || own_reset) {
        return Ok(());
    }
    Err(ApiError::Forbidden(principal.role.read_only_detail()))
}

/// Writes the rate-limit headers of a decision onto an answer.
pub fn stamp(resp: &mut Response, d: Decision) {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
}

fn limited(d: Decision) -> Response {
    let mut resp = ApiError::RateLimited {
        retry_after_secs: d.retry_after_secs,
    }
    .into_response();
    stamp(&mut resp, d);
    resp
}

fn ip_key(req: &Request) -> String {
    let ip = ClientIp::from_extensions(req.extensions()).text();
    format!("ip:{}", ip.as_deref().unwrap_or("unknown"))
}

/// Per-address limit for routes that need no credentials (login, sign-up, OpenAPI document).
pub async fn limit_by_ip(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let d = ctx
        .limiter
        .check(&[(&ip_key(&req), ctx.config.rate_limit_per_ip)]);
    if !d.allowed {
        return limited(d);
    }
    let mut resp = next.run(req).await;
    stamp(&mut resp, d);
    resp
}

/// Requires a tenant principal; failed authentication counts against the client's address.
pub async fn require_principal(
    State(ctx): State<ApiContext>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let principal = match resolve(&ctx, req.headers(), &method).await {
        Ok(p) => p,
        Err(e) => {
            let d = ctx
                .limiter
                .check(&[(&ip_key(&req), ctx.config.rate_limit_per_ip)]);
            if !d.allowed {
                return limited(d);
            }
            let mut resp = e.into_response();
            stamp(&mut resp, d);
            return resp;
        }
    };
    let cred_key = match &principal.actor {
        Actor::ApiToken { token_id, .. } => format!("token:{token_id}"),
        Actor::User { session_id, .. } => format!("session:{session_id}"),
    };
    let tenant_key = format!("tenant:{}", principal.tenant_id);
    let d = ctx.limiter.check(&[
        (&cred_key, ctx.config.rate_limit_per_token),
        (&tenant_key, ctx.config.rate_limit_per_tenant),
    ]);
    if !d.allowed {
        return limited(d);
    }
    if let Err(e) = role_allows(&principal, &method, req.uri().path()) {
        let mut resp = e.into_response();
        stamp(&mut resp, d);
        return resp;
    }
    req.extensions_mut().insert(principal);
    let mut resp = next.run(req).await;
    stamp(&mut resp, d);
    resp
}

/// Marks a request authenticated as the operator.
#[derive(Clone, Copy, Debug)]
pub struct Operator;

/// Requires the operator token: `INLET_ADMIN_TOKEN` when configured, else the generated one.
pub async fn require_operator(
    State(ctx): State<ApiContext>,
    mut req: Request,
    next: Next,
) -> Response {
    let ok = match bearer(req.headers()) {
        None => false,
        Some(presented) => match &ctx.config.admin_token {
            Some(configured) => credentials::ct_eq_str(presented, configured),
            None => match store::instance::operator_token_hash(&ctx.db).await {
                Ok(Some(stored)) => {
                    credentials::ct_eq_str(&credentials::operator_hash_hex(presented), &stored)
                }
                Ok(None) => false,
                Err(e) => return ApiError::Sqlx(e).into_response(),
            },
        },
    };
    let d = if ok {
        ctx.limiter
            .check(&[("operator", ctx.config.rate_limit_per_token)])
    } else {
        ctx.limiter
            .check(&[(&ip_key(&req), ctx.config.rate_limit_per_ip)])
    };
    if !d.allowed {
        return limited(d);
    }
    let mut resp = if ok {
        req.extensions_mut().insert(Operator);
        next.run(req).await
    } else {
        ApiError::Unauthorized(
            "Send `Authorization: Bearer <operator token>` (INLET_ADMIN_TOKEN).".into(),
        )
        .into_response()
    };
    stamp(&mut resp, d);
    resp
}
