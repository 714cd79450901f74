//! `POST /v1/streams/{id}/publish-tokens` (tokens signed by the API's own Ed25519 key) and the
//! tenant signing keys of `/v1/signing-keys` (for tokens minted offline; the private key is returned
//! once and never stored). The API's key is generated on first use, sealed at rest with
//! INLET_SECRET_KEY, and rotated by the operator; retired keys keep verifying.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiContext;
use super::audit;
use super::error::{ApiError, Problem};
use super::extract::{
    ClientIp, Cursor, JsonBody, Page, PageQuery, Principal, QueryParams, path_uuid,
};
use crate::domain::credentials;
use crate::domain::crypto;
use crate::domain::publish_token::{self, AUDIENCE, Claims, KeyPair};
use crate::domain::validate::{self, Errors};
use crate::store;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// Lifetime, 1 s up to INLET_PUBLISH_TOKEN_MAX_TTL_SECS (default 7 days).
    pub ttl_seconds: i64,
    /// Bind the token to an address or CIDR.
    pub ip: Option<String>,
    /// The token admits one publish only.
    pub single_use: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MintedToken {
    /// The JWT; put it in the publish name (`sk_…?token=…`) or the server URL (`…/live?token=…`).
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The token's id (`jti`).
    pub id: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSigningKey {
    /// What the key is for, 1–100 characters.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyView {
    /// The `kid` to put in the JWT header.
    pub id: String,
    pub name: String,
    /// Always `EdDSA` (Ed25519).
    pub algorithm: String,
    pub public_key_pem: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyCreated {
    #[serde(flatten)]
    pub key: SigningKeyView,
    /// PKCS#8 PEM of the private key, shown this once; Inlet keeps only the public key.
    pub private_key_pem: String,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(mint))
        .routes(routes!(create_signing_key, list_signing_keys))
        .routes(routes!(revoke_signing_key))
}

/// The API's current signing key, created on first use. A key that cannot be unsealed (the
/// INLET_SECRET_KEY changed) is retired and replaced; tokens it signed still verify.
pub async fn api_signing_key(ctx: &ApiContext) -> Result<(String, KeyPair), ApiError> {
    if let Some(row) = store::signing_keys::current_api_key(&ctx.db).await? {
        if let Some(pair) =
            crypto::open(&ctx.seal_key, &row.private_sealed).and_then(|s| KeyPair::from_seed(&s))
        {
            return Ok((row.kid, pair));
        }
        tracing::warn!(kid = %row.kid, "the API signing key cannot be unsealed with this INLET_SECRET_KEY; replacing it");
    }
    rotate_api_signing_key(ctx).await
}

/// Creates a new API signing key and retires the others.
pub async fn rotate_api_signing_key(ctx: &ApiContext) -> Result<(String, KeyPair), ApiError> {
    let pair = KeyPair::generate();
    let kid = format!("api_{}", credentials::random_text(10));
    let sealed = crypto::seal(&ctx.seal_key, &pair.seed())?;
    store::signing_keys::insert_api_key(&ctx.db, &kid, &sealed, &pair.public_raw()).await?;
    store::signing_keys::retire_api_keys_except(&ctx.db, &kid).await?;
    tracing::info!(kid = %kid, "new API publish-token signing key");
    Ok((kid, pair))
}

/// Mint a publish token for a stream.
#[utoipa::path(post, path = "/v1/streams/{id}/publish-tokens", tag = "keys", request_body = MintToken,
    params(("id" = String, Path, description = "Stream id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = MintedToken), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn mint(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MintToken>,
) -> Result<(StatusCode, axum::Json<MintedToken>), ApiError> {
    let stream_id = path_uuid(&id)?;
    let mut errors = Errors::default();
    errors.range(
        "ttl_seconds",
        body.ttl_seconds,
        1,
        ctx.config.publish_token_max_ttl_secs,
    );
    let binding = body.ip.as_ref().map(|raw| {
        // One address or CIDR, reported as field `ip` (not as a list entry).
        let mut one = Errors::default();
        let net = validate::ip_allowlist(&mut one, "ip", std::slice::from_ref(raw));
        one.0.into_iter().for_each(|e| errors.add("ip", e.detail));
        net
    });
    ApiError::check(errors)?;
    let binding = binding.and_then(|v| v.into_iter().next());

    let mut tx = ctx.db.begin().await?;
    store::streams::get(&mut tx, principal.tenant_id, stream_id, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (kid, pair) = api_signing_key(&ctx).await?;
    let now = Utc::now();
    let expires_at = now + chrono::Duration::seconds(body.ttl_seconds);
    let claims = Claims {
        aud: AUDIENCE.into(),
        sub: stream_id.to_string(),
        tid: principal.tenant_id.to_string(),
        exp: expires_at.timestamp(),
        nbf: Some(now.timestamp()),
        iat: now.timestamp(),
        jti: credentials::random_text(22),
        ip: binding.clone(),
        single_use: body.single_use.filter(|s| *s),
    };
    let token = publish_token::mint(&kid, &pair, &claims)?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "publish_token.minted",
        ("stream", &stream_id.to_string()),
        json!({"jti": claims.jti, "ttl_seconds": body.ttl_seconds, "ip": binding, "single_use": claims.single_use.unwrap_or(false), "kid": kid}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(MintedToken {
            token,
            expires_at,
            id: claims.jti,
        }),
    ))
}

fn view(row: store::signing_keys::TenantKeyRow) -> Result<SigningKeyView, ApiError> {
    let public_key_pem = ed25519_pem(&row.public_key)?;
    Ok(SigningKeyView {
        id: row.kid,
        name: row.name,
        algorithm: "EdDSA".into(),
        public_key_pem,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    })
}

fn ed25519_pem(raw: &[u8]) -> Result<String, ApiError> {
    use ed25519_dalek::pkcs8::{EncodePublicKey, spki::der::pem::LineEnding};
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("bad public key length")))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
}

/// Create a tenant signing key; the private key (PKCS#8 PEM) is returned once.
#[utoipa::path(post, path = "/v1/signing-keys", tag = "keys", request_body = CreateSigningKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = SigningKeyCreated), (status = 422, body = Problem)))]
pub async fn create_signing_key(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<CreateSigningKey>,
) -> Result<(StatusCode, axum::Json<SigningKeyCreated>), ApiError> {
    let mut errors = Errors::default();
    errors.name("name", &body.name);
    ApiError::check(errors)?;
    let pair = KeyPair::generate();
    let kid = format!("tk_{}", credentials::random_text(10));
    let mut tx = ctx.db.begin().await?;
    let row = store::signing_keys::insert_tenant_key(
        &mut tx,
        principal.tenant_id,
        &kid,
        body.name.trim(),
        &pair.public_raw(),
    )
    .await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "signing_key.created",
        ("signing_key", &kid),
        json!({"name": row.name}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SigningKeyCreated {
            key: view(row)?,
            private_key_pem: pair.private_pem()?,
        }),
    ))
}

/// List the tenant's signing keys.
#[utoipa::path(get, path = "/v1/signing-keys", tag = "keys", params(PageQuery),
    responses((status = 200, body = Page<SigningKeyView>)))]
pub async fn list_signing_keys(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<SigningKeyView>>, ApiError> {
    let limit = q.limit()?;
    let rows = store::signing_keys::list_tenant_keys(
        &ctx.db,
        principal.tenant_id,
        q.cursor()?.as_ref(),
        limit,
    )
    .await?;
    let views = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(Page::from_rows(
        views,
        limit,
        |k: &SigningKeyView| Cursor::encode(k.created_at, &k.id),
    )))
}

/// Revoke a signing key: tokens it signed are refused from now on.
#[utoipa::path(delete, path = "/v1/signing-keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Signing key id (kid)")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke_signing_key(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(kid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut tx = ctx.db.begin().await?;
    if !store::signing_keys::revoke_tenant_key(&mut tx, principal.tenant_id, &kid).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &mut tx,
        &principal,
        ip,
        "signing_key.revoked",
        ("signing_key", &kid),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
