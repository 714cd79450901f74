//! The tenant's publish KPIs over a time range (`GET /v1/stats`): attempts and refusals from
//! `publish_attempts`, sessions, drops, reconnects and start-up times from `publish_sessions`,
//! broken limits from `session_warnings`.

use chrono::{DateTime, Utc};
use inlet_contract::session::EndReason;
use sqlx::PgPool;
use uuid::Uuid;

/// End reasons that count as a drop: the feed broke, not the publisher or the operator.
pub const DROP_REASONS: &[&str] = &[
    EndReason::NetworkError.as_str(),
    EndReason::IdleTimeout.as_str(),
    EndReason::WriteTimeout.as_str(),
    EndReason::NodeLost.as_str(),
    EndReason::NodeRestarted.as_str(),
];

#[derive(Debug, Default, sqlx::FromRow)]
pub struct Attempts {
    pub total: i64,
    pub accepted: i64,
    /// Accepted publishes that continued an open session.
    pub resumed: i64,
}

#[derive(Debug, Default, sqlx::FromRow)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub count: i64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: Attempts,
    pub refusals: Vec<(String, i64)>,
    pub sessions_started: i64,
    pub sessions_ended: i64,
    pub drops: i64,
    pub limits_violations: i64,
    pub first_frame: Percentiles,
    pub hls_ready: Percentiles,
    pub live_now: i64,
    pub reconnecting_now: i64,
}

/// Start-up time percentiles (ms) of the sessions started in `[from, to)`, from `column`.
async fn startup(
    db: &PgPool,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    column: &'static str,
) -> sqlx::Result<Percentiles> {
    // `column` is one of two constants, never input.
    sqlx::query_as(&format!(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95,
                count(ms) AS count
         FROM (SELECT (EXTRACT(EPOCH FROM ({column} - started_at)) * 1000)::float8 AS ms
               FROM publish_sessions
               WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3 AND {column} IS NOT NULL) x"
    ))
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

pub async fn for_tenant(
    db: &PgPool,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Stats> {
    let attempts: Attempts = sqlx::query_as(
        "SELECT count(*) AS total,
                count(*) FILTER (WHERE result = 'accepted') AS accepted,
                count(*) FILTER (WHERE result = 'accepted' AND resumed) AS resumed
         FROM publish_attempts WHERE tenant_id = $1 AND at >= $2 AND at < $3",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    let refusals: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(reason_code, 'unknown'), count(*) FROM publish_attempts
         WHERE tenant_id = $1 AND at >= $2 AND at < $3 AND result = 'refused'
         GROUP BY 1 ORDER BY 1",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let sessions_started: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM publish_sessions WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    let drop_reasons: Vec<String> = DROP_REASONS.iter().map(|r| r.to_string()).collect();
    let (sessions_ended, drops): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE end_reason = ANY($4)) FROM publish_sessions
         WHERE tenant_id = $1 AND ended_at >= $2 AND ended_at < $3",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .bind(&drop_reasons)
    .fetch_one(db)
    .await?;
    let limits_violations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM session_warnings WHERE tenant_id = $1 AND at >= $2 AND at < $3",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    let (live_now, reconnecting_now): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE ps.disconnected_at IS NOT NULL)
         FROM streams s JOIN publish_sessions ps ON ps.id = s.active_session_id
         WHERE s.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(db)
    .await?;
    Ok(Stats {
        attempts,
        refusals,
        sessions_started,
        sessions_ended,
        drops,
        limits_violations,
        first_frame: startup(db, tenant, from, to, "first_frame_at").await?,
        hls_ready: startup(db, tenant, from, to, "hls_ready_at").await?,
        live_now,
        reconnecting_now,
    })
}
