//! Idempotency records: a hashed client key per scope, the request fingerprint, and the encrypted
//! response once the first request finished. Records older than 24 h, and claims whose request died
//! without an answer for 2 minutes, are replaced.

use sqlx::PgPool;

/// How long an Idempotency-Key is remembered.
pub const RETENTION_HOURS: i32 = 24;

pub enum Claim {
    /// This request owns the key: run it.
    Owned,
    /// Another request used the key: its fingerprint, and its stored answer when finished.
    Existing {
        fingerprint: Vec<u8>,
        status: Option<i16>,
        response: Option<Vec<u8>>,
    },
}

#[derive(sqlx::FromRow)]
struct Record {
    fingerprint: Vec<u8>,
    status: Option<i16>,
    response: Option<Vec<u8>>,
}

pub async fn claim(
    db: &PgPool,
    scope: &str,
    lookup_hash: &[u8],
    fingerprint: &[u8],
) -> sqlx::Result<Claim> {
    sqlx::query(
        "DELETE FROM idempotency_records
         WHERE scope = $1 AND lookup_hash = $2
           AND (created_at < now() - make_interval(hours => $3)
                OR (status IS NULL AND created_at < now() - interval '2 minutes'))",
    )
    .bind(scope)
    .bind(lookup_hash)
    .bind(RETENTION_HOURS)
    .execute(db)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_records (scope, lookup_hash, fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(lookup_hash)
    .bind(fingerprint)
    .execute(db)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Owned);
    }
    let row: Option<Record> = sqlx::query_as(
        "SELECT fingerprint, status, response FROM idempotency_records
         WHERE scope = $1 AND lookup_hash = $2",
    )
    .bind(scope)
    .bind(lookup_hash)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(Record {
            fingerprint,
            status,
            response,
        }) => Claim::Existing {
            fingerprint,
            status,
            response,
        },
        // Deleted between our insert attempt and the read: treat as in progress; the client retries.
        None => Claim::Existing {
            fingerprint: fingerprint.to_vec(),
            status: None,
            response: None,
        },
    })
}

pub async fn complete(
    db: &PgPool,
    scope: &str,
    lookup_hash: &[u8],
    status: i16,
    response: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE idempotency_records SET status = $3, response = $4 WHERE scope = $1 AND lookup_hash = $2",
    )
    .bind(scope)
    .bind(lookup_hash)
    .bind(status)
    .bind(response)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn release(db: &PgPool, scope: &str, lookup_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_records WHERE scope = $1 AND lookup_hash = $2")
        .bind(scope)
        .bind(lookup_hash)
        .execute(db)
        .await?;
    Ok(())
}
