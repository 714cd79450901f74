//! Webhook endpoints, their deliveries (the outbox rows `inlet_emit` queues) and the attempts log.
//! Endpoint queries are scoped by tenant; the delivery worker's claim spans tenants (it is the
//! operator's process) and every row it touches carries its tenant. Secrets arrive and leave sealed.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::cursor::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub stream_ids: Option<Vec<Uuid>>,
    pub ordering: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret_sealed: Vec<u8>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, url, description, event_types, stream_ids, ordering, enabled,
    disabled_reason, secret_sealed, previous_secret_sealed, previous_secret_expires_at,
    secret_rotated_at, failing_since, created_at, updated_at";

/// The settable fields of an endpoint.
#[derive(Debug, Clone)]
pub struct WebhookFields {
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub stream_ids: Option<Vec<Uuid>>,
    pub ordering: String,
    pub enabled: bool,
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    f: &WebhookFields,
    secret_sealed: &[u8],
) -> sqlx::Result<WebhookRow> {
    sqlx::query_as(&format!(
        "INSERT INTO webhooks (id, tenant_id, url, description, event_types, stream_ids, ordering,
                               enabled, secret_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(&f.url)
    .bind(&f.description)
    .bind(&f.event_types)
    .bind(&f.stream_ids)
    .bind(&f.ordering)
    .bind(f.enabled)
    .bind(secret_sealed)
    .fetch_one(conn)
    .await
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> sqlx::Result<Option<WebhookRow>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2{lock}"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhooks
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(
        after
            .and_then(|c| Uuid::parse_str(&c.id).ok())
            .unwrap_or_default(),
    )
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

/// Writes the fields; re-enabling clears the disabled reason and the failure streak.
pub async fn update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    f: &WebhookFields,
) -> sqlx::Result<WebhookRow> {
    sqlx::query_as(&format!(
        "UPDATE webhooks SET url = $3, description = $4, event_types = $5, stream_ids = $6,
             ordering = $7,
             disabled_reason = CASE WHEN $8 THEN NULL ELSE COALESCE(disabled_reason, 'disabled by a user') END,
             failing_since = CASE WHEN $8 AND NOT enabled THEN NULL ELSE failing_since END,
             enabled = $8, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(&f.url)
    .bind(&f.description)
    .bind(&f.event_types)
    .bind(&f.stream_ids)
    .bind(&f.ordering)
    .bind(f.enabled)
    .fetch_one(conn)
    .await
}

pub async fn delete(conn: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A new secret; the old one keeps signing until `previous_expires_at`.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    new_sealed: &[u8],
    previous_expires_at: DateTime<Utc>,
) -> sqlx::Result<WebhookRow> {
    sqlx::query_as(&format!(
        "UPDATE webhooks SET previous_secret_sealed = secret_sealed, secret_sealed = $3,
             previous_secret_expires_at = $4, secret_rotated_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(new_sealed)
    .bind(previous_expires_at)
    .fetch_one(conn)
    .await
}

/// Disables an endpoint (410 Gone, or failing too long); `true` when it was enabled.
pub async fn disable(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    reason: &str,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhooks SET enabled = false, disabled_reason = $3, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND enabled",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A delivery claimed by a worker, with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// Attempts made before this one.
    pub attempts: i32,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub event: super::events::EventRow,
}

/// Claims up to `limit` due deliveries for `lease` seconds (`FOR UPDATE SKIP LOCKED`: concurrent
/// workers take disjoint sets). A `per_stream` endpoint's delivery waits while an earlier one of
/// the same stream is pending (in flight or scheduled for a retry).
pub async fn claim(
    db: &PgPool,
    owner: &str,
    limit: i64,
    lease_secs: i64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
              WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                AND (d.lease_until IS NULL OR d.lease_until < now())
                AND w.enabled
                AND (w.ordering = 'none' OR NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries p
                      WHERE p.webhook_id = d.webhook_id AND p.scope_id = d.scope_id
                        AND p.status = 'pending' AND p.sequence < d.sequence))
              ORDER BY d.next_attempt_at, d.sequence
              LIMIT $2
              FOR UPDATE OF d SKIP LOCKED),
         claimed AS (
             UPDATE webhook_deliveries d
                SET lease_until = now() + make_interval(secs => $3), lease_owner = $1
               FROM due WHERE d.id = due.id
             RETURNING d.id, d.webhook_id, d.event_id, d.attempts)
         SELECT c.id AS delivery_id, c.webhook_id, c.attempts, w.url, w.secret_sealed,
                w.previous_secret_sealed, w.previous_secret_expires_at, w.failing_since,
                e.id, e.tenant_id, e.type, e.object_type, e.object_id, e.stream_id, e.session_id,
                e.sequence, e.data, e.created_at
           FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id",
    )
    .bind(owner)
    .bind(limit)
    .bind(lease_secs as f64)
    .fetch_all(db)
    .await
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub response_excerpt: String,
    /// The next try, when there is one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Final status when there is no next try: `succeeded`, `failed` or `exhausted`.
    pub status: &'static str,
}

/// Records an attempt of a claimed delivery and releases the claim, in one statement; answers the
/// endpoint's failure streak start after it (NULL after a success). A claim that is no longer this
/// worker's (its lease ran out and another took it) records nothing.
pub async fn complete(
    db: &PgPool,
    owner: &str,
    c: &Claimed,
    o: &Outcome,
) -> sqlx::Result<Option<Option<DateTime<Utc>>>> {
    sqlx::query_scalar(
        "WITH d AS (
             UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = NULL, lease_owner = NULL,
                    status = CASE WHEN $3::timestamptz IS NULL THEN $4 ELSE 'pending' END,
                    next_attempt_at = COALESCE($3, next_attempt_at),
                    completed_at = CASE WHEN $3::timestamptz IS NULL THEN now() END
              WHERE id = $1 AND lease_owner = $2 AND status = 'pending'
             RETURNING id, tenant_id, webhook_id, event_id, attempts),
         a AS (
             INSERT INTO webhook_attempts (id, tenant_id, webhook_id, delivery_id, event_id, event_type,
                    attempt, succeeded, status_code, error, latency_ms, response_excerpt, next_attempt_at)
             SELECT $5, d.tenant_id, d.webhook_id, d.id, d.event_id, $6, d.attempts, $7, $8, $9, $10, $11, $3
               FROM d),
         -- The endpoint's row is written only when its failure streak starts or ends: every send to
         -- an endpoint would otherwise queue on that row's lock.
         changed AS (
             UPDATE webhooks w
                SET failing_since = CASE WHEN $7 THEN NULL ELSE now() END
               FROM d WHERE w.id = d.webhook_id AND (w.failing_since IS NULL) = NOT $7
             RETURNING w.failing_since)
         SELECT CASE WHEN EXISTS (SELECT 1 FROM changed) THEN (SELECT failing_since FROM changed)
                     ELSE w.failing_since END
           FROM d JOIN webhooks w ON w.id = d.webhook_id",
    )
    .bind(c.delivery_id)
    .bind(owner)
    .bind(o.next_attempt_at)
    .bind(o.status)
    .bind(Uuid::now_v7())
    .bind(&c.event.kind)
    .bind(o.succeeded)
    .bind(o.status_code)
    .bind(o.error.as_deref())
    .bind(o.latency_ms)
    .bind(&o.response_excerpt)
    .fetch_optional(db)
    .await
}

/// Records a synchronous attempt (the test call): a delivery that is final at once.
pub async fn record_sync(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    webhook_id: Uuid,
    event: &super::events::EventRow,
    o: &Outcome,
) -> sqlx::Result<Uuid> {
    let delivery = Uuid::now_v7();
    sqlx::query(
        "WITH d AS (
             INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id, scope_id, sequence,
                                             status, attempts, completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, now()) RETURNING id)
         INSERT INTO webhook_attempts (id, tenant_id, webhook_id, delivery_id, event_id, event_type,
                attempt, succeeded, status_code, error, latency_ms, response_excerpt)
         SELECT $8, $2, $3, d.id, $4, $9, 1, $10, $11, $12, $13, $14 FROM d",
    )
    .bind(delivery)
    .bind(tenant_id)
    .bind(webhook_id)
    .bind(&event.id)
    .bind(&event.object_id)
    .bind(event.sequence)
    .bind(o.status)
    .bind(Uuid::now_v7())
    .bind(&event.kind)
    .bind(o.succeeded)
    .bind(o.status_code)
    .bind(o.error.as_deref())
    .bind(o.latency_ms)
    .bind(&o.response_excerpt)
    .execute(conn)
    .await?;
    Ok(delivery)
}

/// One row of the deliveries log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub response_excerpt: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivery_status: String,
}

/// The endpoint's attempts, newest first; `status` filters on the delivery's status (`pending`,
/// `succeeded`, `failed`, `exhausted`).
pub async fn attempts(
    db: &PgPool,
    tenant_id: Uuid,
    webhook_id: Uuid,
    status: Option<&str>,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "SELECT a.id, a.delivery_id, a.event_id, a.event_type, a.attempt, a.at, a.succeeded,
                a.status_code, a.error, a.latency_ms, a.response_excerpt, a.next_attempt_at,
                d.status AS delivery_status
           FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
          WHERE a.tenant_id = $1 AND a.webhook_id = $2 AND ($3::text IS NULL OR d.status = $3)
            AND ($4::timestamptz IS NULL OR (a.at, a.id) < ($4, $5))
          ORDER BY a.at DESC, a.id DESC LIMIT $6",
    )
    .bind(tenant_id)
    .bind(webhook_id)
    .bind(status)
    .bind(after.map(|c| c.at))
    .bind(
        after
            .and_then(|c| Uuid::parse_str(&c.id).ok())
            .unwrap_or_default(),
    )
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

/// Queues the event again: for one endpoint (`webhook`) whatever its filters, or for every enabled
/// endpoint of the tenant whose filters take it; answers how many deliveries were queued.
pub async fn redeliver(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    event_id: &str,
    webhook: Option<Uuid>,
) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id, scope_id, sequence)
         SELECT gen_random_uuid(), w.tenant_id, w.id, e.id, e.scope_id, e.sequence
           FROM events e JOIN webhooks w ON w.tenant_id = e.tenant_id
          WHERE e.tenant_id = $1 AND e.id = $2 AND w.enabled AND ($3::uuid IS NULL OR w.id = $3)
            AND ($3::uuid IS NOT NULL OR ((w.event_types IS NULL OR e.type = ANY (w.event_types))
                 AND (w.stream_ids IS NULL OR e.stream_id = ANY (w.stream_ids))))",
    )
    .bind(tenant_id)
    .bind(event_id)
    .bind(webhook)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        notify(conn).await?;
    }
    Ok(n)
}

/// Queues again, for one endpoint, every event since `since` that its filters take and that it has
/// not received (never queued, or its last delivery failed or was exhausted); answers how many.
pub async fn recover(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    webhook_id: Uuid,
    since: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id, scope_id, sequence)
         SELECT gen_random_uuid(), w.tenant_id, w.id, e.id, e.scope_id, e.sequence
           FROM webhooks w JOIN events e ON e.tenant_id = w.tenant_id
          WHERE w.tenant_id = $1 AND w.id = $2 AND e.created_at >= $3
            AND e.type <> 'webhook.test'
            AND (w.event_types IS NULL OR e.type = ANY (w.event_types))
            AND (w.stream_ids IS NULL OR e.stream_id = ANY (w.stream_ids))
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                             WHERE d.webhook_id = w.id AND d.event_id = e.id
                               AND d.status IN ('pending', 'succeeded'))
          ORDER BY e.txid, e.pos",
    )
    .bind(tenant_id)
    .bind(webhook_id)
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        notify(conn).await?;
    }
    Ok(n)
}

/// The channel the delivery workers listen on.
pub const CHANNEL: &str = "inlet_webhook_deliveries";

async fn notify(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Pending deliveries of enabled endpoints (all tenants), and how long the longest-waiting due one
/// (not in flight) has been due, seconds. Deliveries of disabled endpoints wait for a re-enable and
/// are not a backlog of the workers.
pub async fn backlog(db: &PgPool) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM (now() - min(d.next_attempt_at)
                    FILTER (WHERE d.next_attempt_at <= now()
                              AND (d.lease_until IS NULL OR d.lease_until < now()))))::float8, 0)
           FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
          WHERE d.status = 'pending' AND w.enabled",
    )
    .fetch_one(db)
    .await
}
