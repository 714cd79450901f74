//! `GET /v1/stats`: the tenant's publish KPIs over a time range: attempts and success rate, refusals
//! by reason code, credential failures, sessions started, reconnects, drops, broken limits,
//! time-to-first-frame and time-to-HLS-ready percentiles, and what is live now.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiContext;
use super::error::{ApiError, Problem};
use super::extract::{Principal, QueryParams};
use crate::store;

/// Reason codes that are credential failures.
pub const AUTH_FAILURES: &[&str] = &[
    "invalid_key",
    "key_revoked",
    "key_expired",
    "token_invalid",
    "token_expired",
    "token_replayed",
];

/// Longest range one call may cover.
pub const MAX_RANGE_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Start of the range, RFC 3339, included (default: `to` − 24 h). Encode `+` as `%2B`.
    pub from: Option<DateTime<Utc>>,
    /// End of the range, RFC 3339, excluded (default: now).
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptStats {
    /// Publish attempts decided by the API on the tenant's streams.
    pub total: i64,
    pub accepted: i64,
    pub refused: i64,
    /// `accepted / total`, `null` when there was no attempt.
    pub success_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStats {
    /// Sessions started in the range.
    pub started: i64,
    /// Sessions ended in the range, for any reason.
    pub ended: i64,
    /// Accepted publishes in the range that continued an open session (a reconnect within the
    /// window, or a takeover by the same credentials).
    pub reconnects: i64,
    /// Sessions ended in the range because the feed broke: `network_error`, `idle_timeout`,
    /// `write_timeout`, `node_lost`, `node_restarted`.
    pub drops: i64,
    /// Broken limits reported in the range (rejected and flagged).
    pub limits_violations: i64,
}

/// Percentiles in milliseconds, over the sessions started in the range that got there.
#[derive(Debug, Serialize, ToSchema)]
pub struct Startup {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub count: i64,
}

impl From<store::stats::Percentiles> for Startup {
    fn from(p: store::stats::Percentiles) -> Self {
        Startup {
            p50: p.p50,
            p95: p.p95,
            count: p.count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub publish_attempts: AttemptStats,
    /// Refused attempts by reason code; only the codes seen.
    pub refusals_by_reason: BTreeMap<String, i64>,
    /// Refusals with a credential reason code (`invalid_key`, `key_revoked`, `key_expired`,
    /// `token_invalid`, `token_expired`, `token_replayed`).
    pub auth_failures: i64,
    pub sessions: SessionStats,
    pub time_to_first_frame_ms: Startup,
    pub time_to_hls_ready_ms: Startup,
    /// Streams live now (reconnecting ones included), whatever the range.
    pub live_now: i64,
    /// Of those, the ones whose publisher dropped and may come back within the window.
    pub reconnecting_now: i64,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(get_stats))
}

/// The tenant's publish KPIs over `[from, to)`.
#[utoipa::path(get, path = "/v1/stats", tag = "stats", params(StatsQuery),
    responses((status = 200, body = Stats), (status = 422, body = Problem)))]
pub async fn get_stats(
    State(ctx): State<ApiContext>,
    principal: Principal,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<axum::Json<Stats>, ApiError> {
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::hours(24));
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::field(
            "from",
            format!("the range may cover at most {MAX_RANGE_DAYS} days"),
        ));
    }
    let s = store::stats::for_tenant(&ctx.db, principal.tenant_id, from, to).await?;
    let refusals_by_reason: BTreeMap<String, i64> = s.refusals.into_iter().collect();
    let auth_failures = refusals_by_reason
        .iter()
        .filter(|(code, _)| AUTH_FAILURES.contains(&code.as_str()))
        .map(|(_, n)| n)
        .sum();
    let a = s.attempts;
    Ok(axum::Json(Stats {
        from,
        to,
        publish_attempts: AttemptStats {
            total: a.total,
            accepted: a.accepted,
            refused: a.total - a.accepted,
            success_rate: (a.total > 0).then(|| a.accepted as f64 / a.total as f64),
        },
        refusals_by_reason,
        auth_failures,
        sessions: SessionStats {
            started: s.sessions_started,
            ended: s.sessions_ended,
            reconnects: a.resumed,
            drops: s.drops,
            limits_violations: s.limits_violations,
        },
        time_to_first_frame_ms: s.first_frame.into(),
        time_to_hls_ready_ms: s.hls_ready.into(),
        live_now: s.live_now,
        reconnecting_now: s.reconnecting_now,
    }))
}
