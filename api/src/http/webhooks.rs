//! `/v1/webhooks`: endpoints that receive the tenant's events (docs/webhooks.md). Create (the
//! secret shown once, stored sealed), list, get, patch, delete, rotate the secret with a grace
//! during which deliveries carry both signatures, send a test event synchronously, the deliveries
//! log, and recover (queue again what an endpoint missed since a time). Every change of an endpoint
//! (create, update, delete, secret rotation, and the worker's disabling) is audited; tests,
//! redeliveries and recoveries send or queue and are in the deliveries log instead.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use inlet_contract::events::EventType;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::audit;
use super::error::{ApiError, Problem};
use super::extract::{
    ClientIp, Cursor, JsonBody, JsonOrEmpty, Page, PageQuery, Principal, QueryParams, path_uuid,
};
use crate::domain::crypto;
use crate::domain::validate::Errors;
use crate::domain::webhook::{self, DEFAULT_ROTATION_GRACE_SECS, MAX_ROTATION_GRACE_SECS};
use crate::store;
use crate::store::events::{NewEvent, Subject};
use crate::store::webhooks::{Outcome, WebhookFields, WebhookRow};
use crate::worker::client::WebhookClient;
use crate::worker::delivery::send_signed;

/// How an endpoint receives a stream's events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Deliveries run in parallel; receivers order by `sequence`.
    #[default]
    None,
    /// Each stream's events arrive strictly in `sequence` order: the next waits until the previous
    /// is delivered or exhausted.
    PerStream,
}

impl Ordering {
    fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::PerStream => "per_stream",
        }
    }
}

/// A webhook endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types delivered; `null`: all.
    pub events: Option<Vec<String>>,
    /// Streams whose events are delivered; `null`: all (events of no stream, `webhook.*`, go only
    /// to endpoints without a stream filter).
    pub stream_ids: Option<Vec<Uuid>>,
    pub ordering: Ordering,
    pub enabled: bool,
    /// Why the endpoint is disabled (`410 Gone`, five days of failures, a user).
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Until when deliveries are also signed with the previous secret.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> WebhookView {
        let grace = r.previous_secret_expires_at.filter(|t| *t > Utc::now());
        WebhookView {
            id: r.id,
            url: r.url,
            description: r.description,
            events: r.event_types,
            stream_ids: r.stream_ids,
            ordering: if r.ordering == "per_stream" {
                Ordering::PerStream
            } else {
                Ordering::None
            },
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since,
            secret_rotated_at: r.secret_rotated_at,
            previous_secret_expires_at: grace,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A created endpoint, or one whose secret was rotated: `secret` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    pub webhook: WebhookView,
    /// `whsec_<base64>`: verify deliveries with it (docs/webhooks.md).
    pub secret: String,
}

/// `null` and absent differ in a patch: `Some(None)` is an explicit null.
fn explicit<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `https://` URL without user info (`http://` and private addresses only when the operator
    /// allows them).
    pub url: Option<String>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Event types to deliver; absent or `null`: all.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Option<Vec<String>>>,
    /// Stream ids whose events to deliver; absent or `null`: all.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<Vec<String>>)]
    pub stream_ids: Option<Option<Vec<String>>>,
    pub ordering: Option<Ordering>,
    /// Only in a patch: turn deliveries off or on.
    pub enabled: Option<bool>,
}

impl WebhookSettings {
    /// Applies the settings onto `f`, validating every field; a stream filter must name streams
    /// of the tenant.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        tenant_id: Uuid,
        allow_private: bool,
        f: &mut WebhookFields,
    ) -> Result<(), ApiError> {
        let mut errors = Errors::default();
        if let Some(url) = &self.url {
            match webhook::check_url(url.trim(), allow_private) {
                Ok(u) => f.url = u.to_string(),
                Err(e) => errors.add("url", e),
            }
        }
        if let Some(d) = &self.description {
            if d.chars().count() > webhook::MAX_DESCRIPTION_LEN {
                errors.add(
                    "description",
                    format!(
                        "must be at most {} characters",
                        webhook::MAX_DESCRIPTION_LEN
                    ),
                );
            } else if d.chars().any(|c| c.is_control() && c != '\n') {
                errors.add("description", "must not contain control characters");
            } else {
                f.description = d.trim().to_string();
            }
        }
        if let Some(events) = &self.events {
            f.event_types = match events {
                None => None,
                Some(list) => {
                    let mut types = Vec::new();
                    for (i, t) in list.iter().enumerate() {
                        match EventType::parse(t) {
                            Some(t) if !types.contains(&t.as_str().to_string()) => {
                                types.push(t.as_str().to_string())
                            }
                            Some(_) => {}
                            None => errors.add(
                                format!("events[{i}]"),
                                format!("{t:?} is not an event type (docs/webhooks.md lists them)"),
                            ),
                        }
                    }
                    if list.is_empty() {
                        errors.add(
                            "events",
                            "must name at least one event type, or be null for all",
                        );
                    }
                    Some(types)
                }
            };
        }
        if let Some(ids) = &self.stream_ids {
            f.stream_ids = match ids {
                None => None,
                Some(list) => {
                    let mut parsed = Vec::new();
                    if list.is_empty() {
                        errors.add(
                            "stream_ids",
                            "must name at least one stream, or be null for all",
                        );
                    }
                    if list.len() > webhook::MAX_STREAM_FILTER {
                        errors.add(
                            "stream_ids",
                            format!("must name at most {} streams", webhook::MAX_STREAM_FILTER),
                        );
                    }
                    for (i, raw) in list.iter().enumerate().take(webhook::MAX_STREAM_FILTER) {
                        let known = match Uuid::parse_str(raw) {
                            Ok(id) => store::streams::get(conn, tenant_id, id, false)
                                .await?
                                .map(|_| id),
                            Err(_) => None,
                        };
                        match known {
                            Some(id) if !parsed.contains(&id) => parsed.push(id),
                            Some(_) => {}
                            None => {
                                errors.add(format!("stream_ids[{i}]"), "is not one of your streams")
                            }
                        }
                    }
                    Some(parsed)
                }
            };
        }
        if let Some(o) = self.ordering {
            f.ordering = o.as_str().to_string();
        }
        if let Some(e) = self.enabled {
            f.enabled = e;
        }
        ApiError::check(errors)
    }
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(test))
        .routes(routes!(deliveries))
        .routes(routes!(recover))
}

fn seal(ctx: &ApiContext, secret: &str) -> Result<Vec<u8>, ApiError> {
    Ok(crypto::seal(&ctx.seal_key, secret.as_bytes())?)
}

/// Create an endpoint. `secret` is shown once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookSettings,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated request")),
    responses((status = 201, body = WebhookWithSecret), (status = 422, body = Problem)))]
pub async fn create(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<WebhookSettings>,
) -> Result<(StatusCode, axum::Json<WebhookWithSecret>), ApiError> {
    if body.url.is_none() {
        return Err(ApiError::field("url", "is required"));
    }
    if body.enabled.is_some() {
        return Err(ApiError::field(
            "enabled",
            "is set with PATCH; a new endpoint is enabled",
        ));
    }
    let mut fields = WebhookFields {
        url: String::new(),
        description: String::new(),
        event_types: None,
        stream_ids: None,
        ordering: Ordering::None.as_str().to_string(),
        enabled: true,
    };
    let mut tx = ctx.db.begin().await?;
    body.apply(
        &mut tx,
        principal.tenant_id,
        ctx.config.webhook_allow_private,
        &mut fields,
    )
    .await?;
    let secret = webhook::generate_secret();
    let row = store::webhooks::insert(&mut tx, principal.tenant_id, &fields, &seal(&ctx, &secret)?)
        .await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "webhook.created",
        ("webhook", &row.id.to_string()),
        json!({"url": row.url, "events": row.event_types, "stream_ids": row.stream_ids, "ordering": row.ordering}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, webhook = %row.id, by = %principal.describe(), "webhook created");
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookWithSecret {
            webhook: row.into(),
            secret,
        }),
    ))
}

/// The tenant's endpoints, newest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(PageQuery),
    responses((status = 200, body = Page<WebhookView>), (status = 422, body = Problem)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    let limit = q.limit()?;
    let rows =
        store::webhooks::list(&ctx.db, principal.tenant_id, q.cursor()?.as_ref(), limit).await?;
    Ok(axum::Json(Page::from_rows(
        rows.into_iter().map(WebhookView::from).collect(),
        limit,
        |w: &WebhookView| Cursor::encode(w.created_at, w.id),
    )))
}

async fn load(ctx: &ApiContext, tenant_id: Uuid, raw_id: &str) -> Result<WebhookRow, ApiError> {
    let id = path_uuid(raw_id)?;
    let mut conn = ctx.db.acquire().await?;
    store::webhooks::get(&mut conn, tenant_id, id, false)
        .await?
        .ok_or(ApiError::NotFound)
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 404, body = Problem)))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(
        load(&ctx, principal.tenant_id, &id).await?.into(),
    ))
}

/// Change an endpoint's URL, description, filters, ordering or enabled flag.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookSettings,
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WebhookSettings>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let id = path_uuid(&id)?;
    let mut tx = ctx.db.begin().await?;
    let row = store::webhooks::get(&mut tx, principal.tenant_id, id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut fields = WebhookFields {
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: row.event_types.clone(),
        stream_ids: row.stream_ids.clone(),
        ordering: row.ordering.clone(),
        enabled: row.enabled,
    };
    body.apply(
        &mut tx,
        principal.tenant_id,
        ctx.config.webhook_allow_private,
        &mut fields,
    )
    .await?;
    let updated = store::webhooks::update(&mut tx, principal.tenant_id, id, &fields).await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "webhook.updated",
        ("webhook", &id.to_string()),
        json!({
            "url": updated.url, "events": updated.event_types, "stream_ids": updated.stream_ids,
            "ordering": updated.ordering, "enabled": updated.enabled,
            "was": {"url": row.url, "events": row.event_types, "stream_ids": row.stream_ids,
                    "ordering": row.ordering, "enabled": row.enabled},
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, webhook = %id, by = %principal.describe(), "webhook updated");
    Ok(axum::Json(updated.into()))
}

/// Delete an endpoint; its pending deliveries go with it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_uuid(&id)?;
    let mut tx = ctx.db.begin().await?;
    if !store::webhooks::delete(&mut tx, principal.tenant_id, id).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &mut tx,
        &principal,
        ip,
        "webhook.deleted",
        ("webhook", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, webhook = %id, by = %principal.describe(), "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secret keeps signing too, seconds (default 86400, at most 604800).
    pub grace_seconds: Option<i64>,
}

/// Rotate the secret: the new one is shown once; until the grace ends deliveries carry both
/// signatures.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", request_body = RotateSecret,
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookWithSecret), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<RotateSecret>,
) -> Result<axum::Json<WebhookWithSecret>, ApiError> {
    let id = path_uuid(&id)?;
    let grace = body.grace_seconds.unwrap_or(DEFAULT_ROTATION_GRACE_SECS);
    let mut errors = Errors::default();
    errors.range("grace_seconds", grace, 0, MAX_ROTATION_GRACE_SECS);
    ApiError::check(errors)?;
    let mut tx = ctx.db.begin().await?;
    store::webhooks::get(&mut tx, principal.tenant_id, id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    let secret = webhook::generate_secret();
    let until = Utc::now() + chrono::Duration::seconds(grace);
    let row = store::webhooks::rotate_secret(
        &mut tx,
        principal.tenant_id,
        id,
        &seal(&ctx, &secret)?,
        until,
    )
    .await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "webhook.secret_rotated",
        ("webhook", &id.to_string()),
        json!({"grace_seconds": grace, "previous_secret_expires_at": until}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, webhook = %id, grace, "webhook secret rotated");
    Ok(axum::Json(WebhookWithSecret {
        webhook: row.into(),
        secret,
    }))
}

/// What one attempt gave, as the test call answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub event_id: String,
    pub delivery_id: Uuid,
    pub succeeded: bool,
    /// The receiver's status, when it answered.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The first 4 KiB of the receiver's answer.
    pub response_body: String,
}

/// Send a `webhook.test` event now and answer with the attempt (not retried).
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = TestResult), (status = 404, body = Problem)))]
pub async fn test(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<TestResult>, ApiError> {
    let row = load(&ctx, principal.tenant_id, &id).await?;
    let wid = row.id.to_string();
    let mut tx = ctx.db.begin().await?;
    let event_id = store::events::emit(
        &mut tx,
        NewEvent {
            tenant_id: principal.tenant_id,
            kind: EventType::WebhookTest,
            subject: Subject::Other { kind: "webhook", id: &wid },
            fields: json!({"webhook": {"id": row.id, "url": row.url}, "message": "A test event from Inlet: this endpoint receives events."}),
            fanout: false,
        },
    )
    .await?;
    tx.commit().await?;
    let event = store::events::get(&ctx.db, principal.tenant_id, &event_id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("test event vanished")))?;
    let client = WebhookClient::new(
        std::time::Duration::from_secs(ctx.config.webhook_timeout_secs.max(1)),
        ctx.config.webhook_allow_private,
    )?;
    let answer = send_signed(
        &client,
        &ctx.seal_key,
        &row.url,
        &row.secret_sealed,
        row.previous_secret_sealed
            .as_deref()
            .zip(row.previous_secret_expires_at),
        &event,
    )
    .await;
    let outcome = Outcome {
        succeeded: answer.succeeded(),
        status_code: answer.status.map(i32::from),
        error: answer.error.clone(),
        latency_ms: answer.latency.as_millis().min(i32::MAX as u128) as i32,
        response_excerpt: answer.excerpt.clone(),
        next_attempt_at: None,
        status: if answer.succeeded() {
            "succeeded"
        } else {
            "failed"
        },
    };
    let mut conn = ctx.db.acquire().await?;
    let delivery_id =
        store::webhooks::record_sync(&mut conn, principal.tenant_id, row.id, &event, &outcome)
            .await?;
    ctx.metrics.webhook_delivery(
        if outcome.succeeded {
            "succeeded"
        } else {
            "failed"
        },
        answer.latency.as_secs_f64(),
    );
    Ok(axum::Json(TestResult {
        event_id,
        delivery_id,
        succeeded: outcome.succeeded,
        status_code: outcome.status_code,
        latency_ms: outcome.latency_ms,
        error: outcome.error,
        response_body: outcome.response_excerpt,
    }))
}

/// Delivery status filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next try.
    Pending,
    Succeeded,
    /// Not retried: the test call's failures, and `410 Gone`.
    Failed,
    /// Every try of the schedule failed.
    Exhausted,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only attempts of deliveries in this status.
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One attempt in the deliveries log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first try.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    /// The first 4 KiB of the receiver's answer.
    pub response_excerpt: String,
    /// The try this attempt scheduled, if any.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The delivery's status now: `pending`, `succeeded`, `failed` or `exhausted`.
    pub delivery_status: String,
}

/// The endpoint's attempts, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path, description = "Webhook id"), DeliveriesQuery),
    responses((status = 200, body = Page<DeliveryAttempt>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn deliveries(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveriesQuery>,
) -> Result<axum::Json<Page<DeliveryAttempt>>, ApiError> {
    let row = load(&ctx, principal.tenant_id, &id).await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let status = q.status.map(|s| match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Exhausted => "exhausted",
    });
    let rows = store::webhooks::attempts(
        &ctx.db,
        principal.tenant_id,
        row.id,
        status,
        page.cursor()?.as_ref(),
        limit,
    )
    .await?;
    let data = rows
        .into_iter()
        .map(|r| DeliveryAttempt {
            id: r.id,
            delivery_id: r.delivery_id,
            event_id: r.event_id,
            event_type: r.event_type,
            attempt: r.attempt,
            at: r.at,
            succeeded: r.succeeded,
            status_code: r.status_code,
            error: r.error,
            latency_ms: r.latency_ms,
            response_excerpt: r.response_excerpt,
            next_attempt_at: r.next_attempt_at,
            delivery_status: r.delivery_status,
        })
        .collect();
    Ok(axum::Json(Page::from_rows(
        data,
        limit,
        |a: &DeliveryAttempt| Cursor::encode(a.at, a.id),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// Queue again what the endpoint has not received since this time (RFC 3339).
    pub since: DateTime<Utc>,
}

/// How many deliveries a redeliver or recover call queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    pub queued: u64,
}

/// Queue again every event since `since` that the endpoint's filters take and that it has not
/// received (its deliveries failed or were exhausted, or it was disabled then).
#[utoipa::path(post, path = "/v1/webhooks/{id}/recover", tag = "webhooks", request_body = Recover,
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 202, body = Queued), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn recover(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Recover>,
) -> Result<(StatusCode, axum::Json<Queued>), ApiError> {
    let row = load(&ctx, principal.tenant_id, &id).await?;
    if body.since > Utc::now() {
        return Err(ApiError::field("since", "must not be in the future"));
    }
    let mut tx = ctx.db.begin().await?;
    let queued = store::webhooks::recover(&mut tx, principal.tenant_id, row.id, body.since).await?;
    tx.commit().await?;
    tracing::info!(tenant = %principal.tenant_id, webhook = %row.id, queued, "webhook recovery queued");
    Ok((StatusCode::ACCEPTED, axum::Json(Queued { queued })))
}
