//! `Idempotency-Key` on creating calls (POST). The same key with the same request answers the first
//! answer again (with `Idempotent-Replayed: true`); the same key with a different request is a 422; a
//! key whose first request is still running is a 409. Only successful answers are remembered, so a
//! failed call can be retried with the same key. Stored answers are encrypted with a key derived from
//! the client's Idempotency-Key, which itself is stored only hashed: a database dump cannot replay a
//! secret that was shown once.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiContext;
use super::auth::Operator;
use super::error::ApiError;
use super::extract::Principal;
use crate::domain::crypto::{derive_key, open, seal};
use crate::store::idempotency::{self as store, Claim};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

pub async fn middleware(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    match run(ctx, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(ctx: ApiContext, req: Request, next: Next) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_string();
    let scope = if let Some(p) = req.extensions().get::<Principal>() {
        format!("tenant:{}", p.tenant_id)
    } else if req.extensions().get::<Operator>().is_some() {
        "operator".to_string()
    } else {
        return Ok(next.run(req).await);
    };

    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, ctx.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge("The request body is too large.".into()))?;
    let mut fp = Sha256::new();
    fp.update(parts.method.as_str().as_bytes());
    fp.update(b" ");
    fp.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    fp.update(b"\n");
    fp.update(&bytes);
    let fingerprint = fp.finalize().to_vec();
    let lookup = derive_key("inlet-idempotency-lookup", &[&scope, &key]);
    let enc_key = derive_key("inlet-idempotency-seal", &[&scope, &key]);

    match store::claim(&ctx.db, &scope, &lookup, &fingerprint).await? {
        Claim::Existing {
            fingerprint: stored,
            status,
            response,
        } => {
            if stored != fingerprint {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "was already used with a different request; use a new key for a new request",
                ));
            }
            let (Some(status), Some(sealed)) = (status, response) else {
                return Err(ApiError::Conflict(
                    "A request with this Idempotency-Key is still being processed; retry shortly."
                        .into(),
                ));
            };
            let body = open(&enc_key, &sealed).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("idempotency: stored answer unreadable"))
            })?;
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = axum::http::StatusCode::from_u16(status as u16)
                .map_err(|e| ApiError::Internal(e.into()))?;
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
        Claim::Owned => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let resp = next.run(req).await;
            if !resp.status().is_success() {
                store::release(&ctx.db, &scope, &lookup).await?;
                return Ok(resp);
            }
            let (rparts, rbody) = resp.into_parts();
            let rbytes = to_bytes(rbody, usize::MAX)
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("idempotency: body: {e}")))?;
            let sealed = seal(&enc_key, &rbytes)?;
            store::complete(
                &ctx.db,
                &scope,
                &lookup,
                rparts.status.as_u16() as i16,
                &sealed,
            )
            .await?;
            Ok(Response::from_parts(rparts, Body::from(rbytes)))
        }
    }
}
