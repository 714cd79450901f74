//! `/v1/streams/{id}/keys`: rotate (new key shown once, older keys valid for a grace window),
//! list, revoke now. Every change is audited; cutting a live publisher is recorded as a disconnect
//! request for the ingest.

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
use super::extract::{ClientIp, JsonOrEmpty, Page, Principal, path_uuid};
use crate::domain::credentials::{self, Kind};
use crate::domain::validate::Errors;
use crate::store;
use crate::store::keys::KeyRow;
use inlet_contract::events::EventType;

/// Longest grace window of a rotation, seconds (7 days).
pub const MAX_GRACE_SECONDS: i64 = 604_800;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long older keys keep working, 0–604800 s (default 0: they stop at once).
    pub grace_seconds: Option<i64>,
    /// Also cut a publisher that is live on an older key (default false: it keeps publishing).
    pub disconnect_active: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Rotated out, still valid until `expires_at`.
    Expiring,
    Expired,
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    /// The public start of the key, e.g. `sk_AbCdEfGhIj`.
    pub prefix: String,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for KeyView {
    fn from(k: KeyRow) -> Self {
        let now = Utc::now();
        let status = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => KeyStatus::Revoked,
            (None, Some(e)) if e <= now => KeyStatus::Expired,
            (None, Some(_)) => KeyStatus::Expiring,
            (None, None) => KeyStatus::Active,
        };
        KeyView {
            prefix: credentials::prefix(Kind::StreamKey, &k.id),
            id: k.id,
            status,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRotated {
    pub key: KeyView,
    /// The full new stream key, shown this once.
    pub stream_key: String,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(rotate, list))
        .routes(routes!(revoke))
}

/// Rotate: create a new key; older keys keep working for `grace_seconds`.
#[utoipa::path(post, path = "/v1/streams/{id}/keys", tag = "keys", request_body = RotateKey,
    params(("id" = String, Path, description = "Stream id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = KeyRotated), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<RotateKey>,
) -> Result<(StatusCode, axum::Json<KeyRotated>), ApiError> {
    let stream_id = path_uuid(&id)?;
    let grace = body.grace_seconds.unwrap_or(0);
    let mut errors = Errors::default();
    errors.range("grace_seconds", grace, 0, MAX_GRACE_SECONDS);
    ApiError::check(errors)?;
    let disconnect = body.disconnect_active.unwrap_or(false);

    let mut tx = ctx.db.begin().await?;
    store::streams::get(&mut tx, principal.tenant_id, stream_id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    let until = Utc::now() + chrono::Duration::seconds(grace);
    let older = store::keys::expire_older(&mut tx, principal.tenant_id, stream_id, until).await?;
    let key = credentials::issue(Kind::StreamKey);
    store::streams::insert_key(&mut tx, principal.tenant_id, stream_id, &key.id, &key.hash).await?;
    // Every session live now is on an older key (the new one did not exist): one request for the
    // stream, applying to sessions that started before it, covers keys that had expired already.
    if disconnect {
        store::keys::request_disconnect(
            &mut tx,
            principal.tenant_id,
            stream_id,
            None,
            "key_rotated",
        )
        .await?;
    }
    audit::record(
        &mut tx,
        &principal,
        ip,
        "stream_key.rotated",
        ("stream", &stream_id.to_string()),
        json!({"new_key_id": key.id, "older_key_ids": older, "grace_seconds": grace, "disconnect_active": disconnect}),
    )
    .await?;
    let row = store::keys::get(&mut tx, principal.tenant_id, stream_id, &key.id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("rotated key vanished")))?;
    store::events::stream_event(
        &mut tx,
        principal.tenant_id,
        stream_id,
        None,
        EventType::StreamKeyRotated,
        json!({
            "key": {"id": key.id, "prefix": credentials::prefix(Kind::StreamKey, &key.id), "created_at": row.created_at},
            "older_key_ids": older,
            "older_keys_expire_at": until,
            "grace_seconds": grace,
            "disconnect_active": disconnect,
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, stream = %stream_id, key_id = %key.id, grace, "stream key rotated");
    Ok((
        StatusCode::CREATED,
        axum::Json(KeyRotated {
            key: row.into(),
            stream_key: key.full,
        }),
    ))
}

/// The stream's keys, newest first (never the secrets).
#[utoipa::path(get, path = "/v1/streams/{id}/keys", tag = "keys",
    params(("id" = String, Path, description = "Stream id")),
    responses((status = 200, body = Page<KeyView>), (status = 404, body = Problem)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<Page<KeyView>>, ApiError> {
    let stream_id = path_uuid(&id)?;
    let mut conn = ctx.db.acquire().await?;
    store::streams::get(&mut conn, principal.tenant_id, stream_id, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    let keys = store::keys::list(&ctx.db, principal.tenant_id, stream_id).await?;
    Ok(axum::Json(Page {
        data: keys.into_iter().map(KeyView::from).collect(),
        next_cursor: None,
    }))
}

/// Revoke a key now; a publisher using it is disconnected.
#[utoipa::path(delete, path = "/v1/streams/{id}/keys/{key_id}", tag = "keys",
    params(("id" = String, Path, description = "Stream id"), ("key_id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let stream_id = path_uuid(&id)?;
    let mut tx = ctx.db.begin().await?;
    // The stream's row first, as every writer of its events takes it (no lock-order deadlock
    // with a publish on the same key).
    store::streams::get(&mut tx, principal.tenant_id, stream_id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !store::keys::revoke(&mut tx, principal.tenant_id, stream_id, &key_id).await? {
        return Err(ApiError::NotFound);
    }
    store::keys::request_disconnect(
        &mut tx,
        principal.tenant_id,
        stream_id,
        Some(&key_id),
        "key_revoked",
    )
    .await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "stream_key.revoked",
        ("stream_key", &key_id),
        json!({"stream_id": stream_id}),
    )
    .await?;
    store::events::stream_event(
        &mut tx,
        principal.tenant_id,
        stream_id,
        None,
        EventType::StreamKeyRevoked,
        json!({"key_id": key_id}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, stream = %stream_id, key_id = %key_id, "stream key revoked");
    Ok(StatusCode::NO_CONTENT)
}
