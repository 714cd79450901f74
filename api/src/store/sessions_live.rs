//! The session lifecycle after authorization: publish sessions reported by ingest nodes, the
//! stream's live state that follows from them, and the events each change writes in the same
//! transaction (docs/webhooks.md). The start of a session (and the ends a publish decides: a window
//! that ran out, a takeover) belong to the live claim (`inlet_publish_claim`); every end, from here
//! or from the claim, goes through the database's `inlet_session_end`, which writes `stream.idle`.
//! Every write is idempotent: the ingest retries until delivered, and an event is written only by
//! the call that made the change. A report applies only when it comes from the node the session is
//! on now (`node`), so that after a session moved to another node (a reconnect or a takeover), the
//! old node's late reports change nothing.

use chrono::{DateTime, Utc};
use inlet_contract::events::EventType;
use inlet_contract::limits::Limits;
use inlet_contract::session::{Health, Violation, ViolationAction};
use serde_json::json;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::events::stream_event;

/// Ids naming one session of one stream of one tenant, as an event carries them.
#[derive(Debug, Clone, Copy)]
pub struct SessionRef<'a> {
    pub session: Uuid,
    pub tenant: Uuid,
    pub stream: Uuid,
    /// The reporting node; `None` for the API's own decisions (they apply whatever the node).
    pub node: Option<&'a str>,
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Locks the streams' rows in id order (callers pass them sorted): the first lock a batch of
/// reports takes, as every writer of a stream's events does.
pub async fn lock_streams(conn: &mut PgConnection, streams: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("SELECT 1 FROM streams WHERE id = ANY ($1) ORDER BY id FOR UPDATE")
        .bind(streams)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn connected(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    resumed: bool,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let node = r.node.unwrap_or_default();
    if resumed {
        // The authorize call already continued the session; this confirms the publisher is back
        // (and clears a `disconnected` of the previous connection that arrived after the resume).
        sqlx::query(
            "UPDATE publish_sessions SET disconnected_at = NULL, disconnect_reason = NULL
             WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4 AND ended_at IS NULL",
        )
        .bind(r.session)
        .bind(r.tenant)
        .bind(r.stream)
        .bind(node)
        .execute(conn)
        .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO publish_sessions (id, tenant_id, stream_id, node_id, started_at)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM streams WHERE id = $3 AND tenant_id = $2)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(node)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    // A session that already ended (a late retry), or moved to another node, does not make the
    // stream live again.
    sqlx::query(
        "UPDATE streams SET live = true, active_session_id = $1, last_live_at = $4
         WHERE id = $2 AND tenant_id = $3
           AND (active_session_id IS NULL OR active_session_id = $1)
           AND EXISTS (SELECT 1 FROM publish_sessions
                       WHERE id = $1 AND ended_at IS NULL AND node_id = $5)",
    )
    .bind(r.session)
    .bind(r.stream)
    .bind(r.tenant)
    .bind(at)
    .bind(node)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the session's first frame once; answers the seconds from its start when this set it.
pub async fn first_frame(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<f64>> {
    sqlx::query_scalar(
        "UPDATE publish_sessions SET first_frame_at = $5
         WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4 AND first_frame_at IS NULL
         RETURNING EXTRACT(EPOCH FROM ($5 - started_at))::float8",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// Records the playback URL (the first `hls_ready_at` stays); answers the seconds from the session's
/// start when this was its first `hls_ready`.
pub async fn hls_ready(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    url: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<f64>> {
    let first: Option<f64> = sqlx::query_scalar(
        "UPDATE publish_sessions SET hls_ready_at = $5
         WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4 AND hls_ready_at IS NULL
         RETURNING EXTRACT(EPOCH FROM ($5 - started_at))::float8",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let n = sqlx::query(
        "UPDATE publish_sessions SET hls_url = $5
         WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(url)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        let on_stream = sqlx::query(
            "UPDATE streams SET hls_url = $3 WHERE id = $1 AND tenant_id = $2 AND active_session_id = $4",
        )
        .bind(r.stream)
        .bind(r.tenant)
        .bind(url)
        .bind(r.session)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if first.is_some() && on_stream == 1 {
            stream_event(
                conn,
                r.tenant,
                r.stream,
                Some(r.session),
                EventType::StreamActive,
                json!({"hls_url": url, "session_id": r.session}),
            )
            .await?;
        }
    }
    Ok(first)
}

/// Stores one health report and folds it into the session's figures; `Some(reports so far)` when it
/// was new (a retried report is stored once and counted once). A new report that moves a figure
/// out of (or back into) the stream's limits writes `stream.unhealthy` (`stream.healthy`).
pub async fn health(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    h: &Health,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    let n = store_health(conn, r, h, at).await?;
    if n.is_some() {
        health_transitions(conn, r, h).await?;
    }
    Ok(n)
}

/// Measured frame rate may exceed `max_fps` by this factor, as the ingest allows.
const FPS_TOLERANCE: f64 = 1.05;

/// The figures of a report outside the limits: (figure, measured, configured).
pub fn out_of_range(h: &Health, l: &Limits) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, measured: Option<u64>, max: u32| {
        if let Some(m) = measured.filter(|m| *m > u64::from(max)) {
            out.push((name, m.to_string(), max.to_string()));
        }
    };
    check(
        "max_bitrate_kbps",
        Some(u64::from(h.bitrate_kbps)),
        l.max_bitrate_kbps,
    );
    check(
        "max_keyframe_interval_ms",
        h.keyframe_interval_ms.map(u64::from),
        l.max_keyframe_interval_ms,
    );
    check("max_width", h.width.map(u64::from), l.max_width);
    check("max_height", h.height.map(u64::from), l.max_height);
    // The ingest's own tolerance (timestamp rounding), so both judge alike.
    if h.fps.is_finite() && h.fps > f64::from(l.max_fps) * FPS_TOLERANCE {
        out.push(("max_fps", format!("{:.1}", h.fps), l.max_fps.to_string()));
    }
    out
}

/// Whether a report carries the figure a limit is about.
fn measured(h: &Health, figure: &str) -> bool {
    match figure {
        "max_keyframe_interval_ms" => h.keyframe_interval_ms.is_some(),
        "max_width" => h.width.is_some(),
        "max_height" => h.height.is_some(),
        _ => true,
    }
}

async fn health_transitions(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    h: &Health,
) -> sqlx::Result<()> {
    let row: Option<(Json<Limits>, Vec<String>)> = sqlx::query_as(
        "SELECT s.limits, ps.unhealthy FROM publish_sessions ps JOIN streams s ON s.id = ps.stream_id
         WHERE ps.id = $1 AND ps.tenant_id = $2 AND ps.ended_at IS NULL FOR UPDATE OF ps",
    )
    .bind(r.session)
    .bind(r.tenant)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((limits, mut before)) = row else {
        return Ok(());
    };
    before.sort();
    let now = out_of_range(h, &limits.0);
    let mut names: Vec<String> = now.iter().map(|(n, _, _)| (*n).to_string()).collect();
    // A figure this report does not carry (no keyframe yet after a reconnect) keeps its state.
    for b in &before {
        if !names.contains(b) && !measured(h, b) {
            names.push(b.clone());
        }
    }
    names.sort();
    if names == before {
        return Ok(());
    }
    sqlx::query("UPDATE publish_sessions SET unhealthy = $2 WHERE id = $1")
        .bind(r.session)
        .bind(&names)
        .execute(&mut *conn)
        .await?;
    for (figure, measured, configured) in now
        .iter()
        .filter(|(n, _, _)| !before.iter().any(|b| b == n))
    {
        stream_event(
            conn,
            r.tenant,
            r.stream,
            Some(r.session),
            EventType::StreamUnhealthy,
            json!({"session_id": r.session, "figure": figure, "measured": measured, "configured": configured}),
        )
        .await?;
    }
    for figure in before.iter().filter(|b| !names.contains(b)) {
        let l = &limits.0;
        let (measured, configured) = match figure.as_str() {
            "max_bitrate_kbps" => (Some(h.bitrate_kbps.to_string()), l.max_bitrate_kbps),
            "max_keyframe_interval_ms" => (
                h.keyframe_interval_ms.map(|v| v.to_string()),
                l.max_keyframe_interval_ms,
            ),
            "max_width" => (h.width.map(|v| v.to_string()), l.max_width),
            "max_height" => (h.height.map(|v| v.to_string()), l.max_height),
            "max_fps" => (Some(format!("{:.1}", h.fps)), l.max_fps),
            _ => (None, 0),
        };
        stream_event(
            conn,
            r.tenant,
            r.stream,
            Some(r.session),
            EventType::StreamHealthy,
            json!({"session_id": r.session, "figure": figure, "measured": measured, "configured": configured.to_string()}),
        )
        .await?;
    }
    Ok(())
}

async fn store_health(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    h: &Health,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "WITH ins AS (
             INSERT INTO session_health (tenant_id, stream_id, session_id, at, bitrate_kbps, fps,
                 keyframe_interval_ms, width, height, video_codec, audio_codec, bytes, skew_ms)
             SELECT tenant_id, stream_id, id, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
             FROM publish_sessions
             WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4
             ON CONFLICT ON CONSTRAINT session_health_once DO NOTHING
             RETURNING session_id, at, bitrate_kbps, fps, keyframe_interval_ms, width, height,
                       video_codec, audio_codec, bytes, skew_ms)
         UPDATE publish_sessions ps SET
             bytes = GREATEST(ps.bytes, ins.bytes),
             peak_bitrate_kbps = GREATEST(COALESCE(ps.peak_bitrate_kbps, 0), ins.bitrate_kbps),
             bitrate_sum = ps.bitrate_sum + ins.bitrate_kbps,
             health_count = ps.health_count + 1,
             -- The latest figures are the newest report's (a late retry does not overwrite them).
             last_bitrate_kbps = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at THEN ins.bitrate_kbps ELSE ps.last_bitrate_kbps END,
             fps = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at THEN ins.fps ELSE ps.fps END,
             keyframe_interval_ms = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at
                 THEN COALESCE(ins.keyframe_interval_ms, ps.keyframe_interval_ms) ELSE ps.keyframe_interval_ms END,
             width = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at THEN COALESCE(ins.width, ps.width) ELSE ps.width END,
             height = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at THEN COALESCE(ins.height, ps.height) ELSE ps.height END,
             video_codec = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at
                 THEN COALESCE(ins.video_codec, ps.video_codec) ELSE ps.video_codec END,
             audio_codec = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at
                 THEN COALESCE(ins.audio_codec, ps.audio_codec) ELSE ps.audio_codec END,
             skew_ms = CASE WHEN ps.health_at IS NULL OR ins.at >= ps.health_at THEN ins.skew_ms ELSE ps.skew_ms END,
             health_at = GREATEST(ps.health_at, ins.at)
         FROM ins WHERE ps.id = ins.session_id
         RETURNING ps.health_count",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(at)
    .bind(clamp_i32(h.bitrate_kbps))
    .bind(if h.fps.is_finite() { h.fps } else { 0.0 })
    .bind(h.keyframe_interval_ms.map(clamp_i32))
    .bind(h.width.map(clamp_i32))
    .bind(h.height.map(clamp_i32))
    .bind(h.video_codec.as_deref())
    .bind(h.audio_codec.as_deref())
    .bind(i64::try_from(h.bytes).unwrap_or(i64::MAX))
    .bind(h.skew_ms)
    .fetch_optional(conn)
    .await
}

/// Most health reports kept per session.
pub const HEALTH_PER_SESSION: i64 = 1000;

/// Deletes a session's health reports beyond the newest `HEALTH_PER_SESSION`.
pub async fn prune_health(conn: &mut PgConnection, session: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM session_health WHERE session_id = $1 AND at <= (
             SELECT at FROM session_health WHERE session_id = $1
             ORDER BY at DESC OFFSET $2 LIMIT 1)",
    )
    .bind(session)
    .bind(HEALTH_PER_SESSION)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Most warnings kept per session (a flagging feed may break a limit over and over).
pub const WARNINGS_PER_SESSION: i64 = 1000;

pub fn action_str(a: ViolationAction) -> &'static str {
    match a {
        ViolationAction::Rejected => "rejected",
        ViolationAction::Flagged => "flagged",
    }
}

/// Records a broken limit; `true` when it was new.
pub async fn limits_violation(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    v: &Violation,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "INSERT INTO session_warnings (tenant_id, stream_id, session_id, at, limit_name, configured,
             measured, description, action)
         SELECT tenant_id, stream_id, id, $5, $6, $7, $8, $9, $10 FROM publish_sessions
         WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4
           AND (SELECT count(*) FROM session_warnings WHERE session_id = $1) < $11
         ON CONFLICT ON CONSTRAINT session_warnings_once DO NOTHING",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(at)
    .bind(&v.limit)
    .bind(&v.configured)
    .bind(&v.measured)
    .bind(&v.description)
    .bind(action_str(v.action))
    .bind(WARNINGS_PER_SESSION)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        stream_event(
            conn,
            r.tenant,
            r.stream,
            Some(r.session),
            EventType::StreamLimitsViolation,
            json!({
                "session_id": r.session,
                "limit": v.limit,
                "configured": v.configured,
                "measured": v.measured,
                "description": v.description,
                "action": action_str(v.action),
            }),
        )
        .await?;
    }
    Ok(n == 1)
}

/// The publisher's connection ended, but the session waits for it within the reconnect window: the
/// stream stays live on it, with its playback URL. The first report of the drop writes
/// `stream.disconnected`.
pub async fn disconnected(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let first: Option<i32> = sqlx::query_scalar(
        "WITH before AS (
             SELECT id, disconnected_at IS NULL AS was_connected FROM publish_sessions
             WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4 AND ended_at IS NULL
             FOR UPDATE)
         UPDATE publish_sessions ps
            SET disconnected_at = COALESCE(ps.disconnected_at, $5), disconnect_reason = $6
           FROM before WHERE ps.id = before.id AND before.was_connected
         RETURNING (SELECT s.reconnect_window_seconds FROM streams s WHERE s.id = ps.stream_id)",
    )
    .bind(r.session)
    .bind(r.tenant)
    .bind(r.stream)
    .bind(r.node.unwrap_or_default())
    .bind(at)
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await?;
    match first {
        Some(window) => {
            stream_event(
                conn,
                r.tenant,
                r.stream,
                Some(r.session),
                EventType::StreamDisconnected,
                json!({
                    "session_id": r.session,
                    "reason": reason,
                    "reconnect_window_seconds": window,
                    "reconnect_deadline": at + chrono::Duration::seconds(i64::from(window)),
                }),
            )
            .await?;
        }
        None => {
            // A repeated report only refreshes the reason.
            sqlx::query(
                "UPDATE publish_sessions SET disconnect_reason = $5
                 WHERE id = $1 AND tenant_id = $2 AND stream_id = $3 AND node_id = $4
                   AND ended_at IS NULL AND disconnected_at IS NOT NULL",
            )
            .bind(r.session)
            .bind(r.tenant)
            .bind(r.stream)
            .bind(r.node.unwrap_or_default())
            .bind(reason)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Ends the session (the first end and reason win), frees its stream and writes `stream.idle`;
/// `true` when this call ended it. One statement: `inlet_session_end` (migrations/0009).
pub async fn ended(
    conn: &mut PgConnection,
    r: SessionRef<'_>,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT inlet_session_end($1, $2, $3, $4, $5)")
        .bind(r.tenant)
        .bind(r.session)
        .bind(reason)
        .bind(at)
        .bind(r.node)
        .fetch_one(conn)
        .await
}

/// Open sessions whose publisher has been gone longer than the stream's reconnect window plus
/// `grace_secs`: (session, tenant, stream, end reason).
pub async fn abandoned(
    conn: &mut PgConnection,
    grace_secs: i64,
) -> sqlx::Result<Vec<(Uuid, Uuid, Uuid, String)>> {
    sqlx::query_as(
        "SELECT ps.id, ps.tenant_id, ps.stream_id, COALESCE(ps.disconnect_reason, 'reconnect_window_elapsed')
         FROM publish_sessions ps JOIN streams s ON s.id = ps.stream_id
         WHERE ps.ended_at IS NULL AND ps.disconnected_at IS NOT NULL
           AND ps.disconnected_at + make_interval(secs => s.reconnect_window_seconds + $1) < now()
         LIMIT 1000",
    )
    .bind(grace_secs as f64)
    .fetch_all(conn)
    .await
}

/// Most health reports `expire_health` deletes in one statement.
pub const EXPIRE_BATCH: u64 = 10_000;

/// Deletes up to `EXPIRE_BATCH` health reports older than `days` days; answers how many.
pub async fn expire_health(conn: &mut PgConnection, days: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM session_health WHERE id IN (
             SELECT id FROM session_health WHERE at < now() - make_interval(days => $1) LIMIT $2)",
    )
    .bind(days as i32)
    .bind(EXPIRE_BATCH as i64)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Open sessions of all tenants, and how many of them are reconnecting.
pub async fn open_counts(db: &sqlx::PgPool) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE ps.disconnected_at IS NOT NULL)
         FROM streams s JOIN publish_sessions ps ON ps.id = s.active_session_id",
    )
    .fetch_one(db)
    .await
}
