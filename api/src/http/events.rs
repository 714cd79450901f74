//! `/v1/events`: replay of the tenant's events, oldest first after a cursor (the last event id
//! seen), one event, and redelivery of one event to the tenant's endpoints (docs/webhooks.md).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use inlet_contract::events::EventType;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ApiContext;
use super::error::{ApiError, Problem};
use super::extract::{JsonOrEmpty, Page, PageQuery, Principal, QueryParams};
use super::webhooks::Queued;
use crate::store;
use crate::store::events::{Envelope, ListFilter};

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(redeliver))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The last event id seen: list the events after it (omit for the oldest kept).
    pub after: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Only events of this stream.
    pub stream_id: Option<String>,
    /// Page size, 1..=100 (default 20).
    pub limit: Option<u32>,
}

/// The tenant's events, oldest first. `next_cursor` is the last id of the page when there are more;
/// pass it as `after`.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, body = Page<Envelope>), (status = 422, body = Problem)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<axum::Json<Page<Envelope>>, ApiError> {
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(t) => Some(
            EventType::parse(t)
                .ok_or_else(|| ApiError::field("type", format!("{t:?} is not an event type")))?,
        ),
    };
    let stream_id = match q.stream_id.as_deref() {
        None => None,
        Some(s) => Some(
            Uuid::parse_str(s).map_err(|_| ApiError::field("stream_id", "is not a stream id"))?,
        ),
    };
    if let Some(after) = q.after.as_deref()
        && !store::events::exists(&ctx.db, principal.tenant_id, after).await?
    {
        return Err(ApiError::field(
            "after",
            "is not the id of one of your events (it may be older than the retention)",
        ));
    }
    let filter = ListFilter {
        after: q.after.as_deref(),
        kind,
        stream_id,
    };
    let rows = store::events::list(&ctx.db, principal.tenant_id, &filter, limit).await?;
    Ok(axum::Json(Page::from_rows(
        rows.into_iter().map(Envelope::from).collect(),
        limit,
        |e: &Envelope| e.id.clone(),
    )))
}

/// One event.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event id (evt_…)")),
    responses((status = 200, body = Envelope), (status = 404, body = Problem)))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<Envelope>, ApiError> {
    let row = store::events::get(&ctx.db, principal.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    /// Only to this endpoint (whatever its filters); absent: every enabled endpoint whose filters
    /// take the event.
    pub webhook_id: Option<String>,
}

/// Queue the event again (same event id, so receivers drop it if they have it).
#[utoipa::path(post, path = "/v1/events/{id}/redeliver", tag = "events", request_body = Redeliver,
    params(("id" = String, Path, description = "Event id (evt_…)")),
    responses((status = 202, body = Queued), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn redeliver(
    State(ctx): State<ApiContext>,
    principal: Principal,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<Redeliver>,
) -> Result<(StatusCode, axum::Json<Queued>), ApiError> {
    let mut tx = ctx.db.begin().await?;
    store::events::get(&ctx.db, principal.tenant_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let webhook = match body.webhook_id.as_deref() {
        None => None,
        Some(raw) => {
            let found = match Uuid::parse_str(raw) {
                Ok(w) => store::webhooks::get(&mut tx, principal.tenant_id, w, false).await?,
                Err(_) => None,
            };
            match found {
                Some(w) if w.enabled => Some(w.id),
                Some(_) => {
                    return Err(ApiError::field(
                        "webhook_id",
                        "is disabled; enable it first (PATCH /v1/webhooks/{id})",
                    ));
                }
                None => return Err(ApiError::field("webhook_id", "is not one of your webhooks")),
            }
        }
    };
    let queued = store::webhooks::redeliver(&mut tx, principal.tenant_id, &id, webhook).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Queued { queued })))
}
