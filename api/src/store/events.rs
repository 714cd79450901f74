//! The event outbox (docs/webhooks.md): `emit` writes an event in the caller's transaction through
//! the database's `inlet_emit` (migrations/0009), which allocates the scope's gapless `sequence`,
//! snapshots the stream and fans the event out into pending webhook deliveries. Replay reads
//! (`list`, `get`) and the retention sweep live here too. Every read is scoped by tenant.

use chrono::{DateTime, Utc};
use inlet_contract::events::EventType;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A stream (and, when known, one of its sessions): `data.stream` is its snapshot.
    Stream { id: Uuid, session: Option<Uuid> },
    /// Another object (`webhook`, ...) of the tenant, by type and id.
    Other { kind: &'a str, id: &'a str },
}

/// One event to write.
pub struct NewEvent<'a> {
    pub tenant_id: Uuid,
    pub kind: EventType,
    pub subject: Subject<'a>,
    /// The event's own fields, merged into `data` beside the snapshot.
    pub fields: serde_json::Value,
    /// `false`: no delivery is queued (the caller delivers it itself, as `webhook.test`).
    pub fanout: bool,
}

/// Writes the event in the caller's transaction; answers its id.
pub async fn emit(conn: &mut PgConnection, e: NewEvent<'_>) -> sqlx::Result<String> {
    let (object_type, object_id, stream, session) = match e.subject {
        Subject::Stream { id, session } => ("stream", id.to_string(), Some(id), session),
        Subject::Other { kind, id } => (kind, id.to_string(), None, None),
    };
    sqlx::query_scalar("SELECT inlet_emit($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(e.tenant_id)
        .bind(e.kind.as_str())
        .bind(object_type)
        .bind(object_id)
        .bind(stream)
        .bind(session)
        .bind(e.fields)
        .bind(e.fanout)
        .fetch_one(conn)
        .await
}

/// A stream event with fields, fanned out: the common case.
pub async fn stream_event(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    stream: Uuid,
    session: Option<Uuid>,
    kind: EventType,
    fields: serde_json::Value,
) -> sqlx::Result<String> {
    emit(
        conn,
        NewEvent {
            tenant_id,
            kind,
            subject: Subject::Stream {
                id: stream,
                session,
            },
            fields,
            fanout: true,
        },
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: Uuid,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub object_type: String,
    pub object_id: String,
    pub stream_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub sequence: i64,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "e.id, e.tenant_id, e.type, e.object_type, e.object_id, e.stream_id, e.session_id, e.sequence, e.data, e.created_at";

pub async fn get(db: &PgPool, tenant_id: Uuid, id: &str) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events e WHERE e.tenant_id = $1 AND e.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Filters of the replay list.
#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    /// The last event id seen: list what came after it.
    pub after: Option<&'a str>,
    pub kind: Option<EventType>,
    pub stream_id: Option<Uuid>,
}

/// Events oldest first, after the cursor event, up to `limit + 1` rows. Only events of
/// transactions older than every running one are listed (see migrations/0009), so a page never
/// changes once read: a receiver paging with `after` misses nothing.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    f: &ListFilter<'_>,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events e
         WHERE e.tenant_id = $1
           AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
           AND ($2::text IS NULL OR (e.txid, e.pos) > (SELECT c.txid, c.pos FROM events c
                                                       WHERE c.id = $2 AND c.tenant_id = $1))
           AND ($3::text IS NULL OR e.type = $3)
           AND ($4::uuid IS NULL OR e.stream_id = $4)
         ORDER BY e.txid, e.pos LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(f.after)
    .bind(f.kind.map(EventType::as_str))
    .bind(f.stream_id)
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

/// Whether the tenant has this event (for a cursor check).
pub async fn exists(db: &PgPool, tenant_id: Uuid, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = $1 AND id = $2)")
        .bind(tenant_id)
        .bind(id)
        .fetch_one(db)
        .await
}

/// Most events `expire` deletes in one statement.
pub const EXPIRE_BATCH: i64 = 5_000;

/// Deletes up to `EXPIRE_BATCH` events older than `days` days (their deliveries and attempts go
/// with them), and rejection counters older than a day; answers how many events.
pub async fn expire(conn: &mut PgConnection, days: i64) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "DELETE FROM events WHERE id IN (
             SELECT id FROM events WHERE created_at < now() - make_interval(days => $1) LIMIT $2)",
    )
    .bind(days as i32)
    .bind(EXPIRE_BATCH)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM stream_rejections WHERE minute < now() - interval '1 day'")
        .execute(conn)
        .await?;
    Ok(n)
}

/// The event as receivers and the replay API see it (docs/webhooks.md, "Envelope").
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Envelope {
    /// `evt_…`, the same on every delivery and retry (the `webhook-id` header).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub object: EventObject,
    pub stream_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// Per stream (per object for events of no stream): starts at 1, no gaps, never goes down.
    pub sequence: i64,
    /// The object as it was after the change (`data.stream` for stream events), plus the event's
    /// own fields.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl From<EventRow> for Envelope {
    fn from(r: EventRow) -> Envelope {
        Envelope {
            id: r.id,
            kind: r.kind,
            created_at: r.created_at,
            tenant_id: r.tenant_id,
            object: EventObject {
                kind: r.object_type,
                id: r.object_id,
            },
            stream_id: r.stream_id,
            session_id: r.session_id,
            sequence: r.sequence,
            data: r.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use inlet_contract::events::EventType;

    /// The SQL functions name event types as text: each must be one the contract knows.
    #[test]
    fn event_types_written_by_sql_are_known() {
        let sql = include_str!("../../../migrations/0009_events.sql");
        let mut seen = 0;
        for prefix in ["'stream.", "'webhook.", "'recording."] {
            for (at, _) in sql.match_indices(prefix) {
                let rest = &sql[at + 1..];
                let name = &rest[..rest.find('\'').unwrap_or(0)];
                assert!(
                    EventType::parse(name).is_some(),
                    "{name} is not an EventType"
                );
                seen += 1;
            }
        }
        assert!(seen >= 3, "found the emitting calls");
    }
}
