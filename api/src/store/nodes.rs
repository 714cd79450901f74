//! Ingest nodes: heartbeats, which live sessions must be cut, and ending the sessions of nodes that
//! went quiet.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use inlet_contract::session::{LiveSession, NodeEndpoints};

/// Records a node's heartbeat: it is alive, with this version and these endpoints.
pub async fn seen(
    conn: &mut PgConnection,
    id: &str,
    version: &str,
    endpoints: &NodeEndpoints,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ingest_nodes (id, version, last_seen_at, rtmp_url, rtmps_url, hls_url)
         VALUES ($1, $2, now(), $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, last_seen_at = now(),
             rtmp_url = EXCLUDED.rtmp_url, rtmps_url = EXCLUDED.rtmps_url, hls_url = EXCLUDED.hls_url",
    )
    .bind(id)
    .bind(version)
    .bind(endpoints.rtmp.as_deref())
    .bind(endpoints.rtmps.as_deref())
    .bind(endpoints.hls.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// The sessions `node` reports that it must cut, with why: a disconnect request made after the
/// session started (for its stream, and its key or itself when named; a request naming a node only
/// for that node, and only when made since the session last moved), or a stream that is disabled,
/// deleted or whose tenant is suspended.
pub async fn disconnects(
    conn: &mut PgConnection,
    node: &str,
    live: &[LiveSession],
) -> sqlx::Result<Vec<(Uuid, String)>> {
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let sessions: Vec<Uuid> = live.iter().map(|l| l.session_id).collect();
    let streams: Vec<Uuid> = live.iter().map(|l| l.stream_id).collect();
    let tenants: Vec<Uuid> = live.iter().map(|l| l.tenant_id).collect();
    let keys: Vec<Option<String>> = live.iter().map(|l| l.key_id.clone()).collect();
    sqlx::query_as(
        "WITH live AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])
                 AS l(session_id, stream_id, tenant_id, key_id))
         SELECT DISTINCT ON (session_id) session_id, reason FROM (
             SELECT l.session_id, r.reason, 0 AS rank FROM live l
             JOIN publish_sessions ps ON ps.id = l.session_id
             JOIN disconnect_requests r ON r.stream_id = l.stream_id AND r.tenant_id = l.tenant_id
                 AND (r.session_id IS NULL OR r.session_id = l.session_id)
                 AND (r.key_id IS NULL OR r.key_id = l.key_id)
                 AND (r.node_id IS NULL OR r.node_id = $5)
                 -- A resumed connection is cut by what was asked during the session; a request for
                 -- one node (its old connection after a move) is not replayed when the session comes
                 -- back to that node later.
                 AND r.created_at >= CASE WHEN r.node_id IS NULL THEN ps.started_at
                                          ELSE COALESCE(ps.resumed_at, ps.started_at) END
             UNION ALL
             SELECT l.session_id,
                    CASE WHEN s.id IS NULL THEN 'stream_deleted'
                         WHEN t.suspended_at IS NOT NULL THEN 'tenant_suspended'
                         ELSE 'stream_disabled' END, 1
             FROM live l LEFT JOIN streams s ON s.id = l.stream_id AND s.tenant_id = l.tenant_id
                         LEFT JOIN tenants t ON t.id = l.tenant_id
             WHERE s.id IS NULL OR NOT s.enabled OR t.suspended_at IS NOT NULL
         ) d ORDER BY session_id, rank",
    )
    .bind(&sessions)
    .bind(&streams)
    .bind(&tenants)
    .bind(&keys)
    .bind(node)
    .fetch_all(conn)
    .await
}

/// Open sessions of `node` it no longer reports (it restarted without saying so), started (or moved
/// to it) more than a few seconds ago so a session whose first report is still in flight is left
/// alone. Sessions it reports, reconnecting ones included, are left open.
pub async fn unreported(
    conn: &mut PgConnection,
    node: &str,
    reported: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT id, tenant_id, stream_id FROM publish_sessions
         WHERE node_id = $1 AND ended_at IS NULL AND NOT (id = ANY($2))
           AND COALESCE(resumed_at, started_at) < now() - interval '10 seconds'",
    )
    .bind(node)
    .bind(reported)
    .fetch_all(conn)
    .await
}

/// Open sessions on nodes not heard from for `lost_after_secs`.
pub async fn lost(db: &PgPool, lost_after_secs: i64) -> sqlx::Result<Vec<(Uuid, Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT ps.id, ps.tenant_id, ps.stream_id FROM publish_sessions ps
         LEFT JOIN ingest_nodes n ON n.id = ps.node_id
         WHERE ps.ended_at IS NULL
           AND GREATEST(n.last_seen_at, COALESCE(ps.resumed_at, ps.started_at))
               < now() - make_interval(secs => $1)",
    )
    .bind(lost_after_secs as f64)
    .fetch_all(db)
    .await
}
