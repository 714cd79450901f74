//! One replica at a time for periodic jobs (docs/operations.md, "Several API replicas"): a job
//! that must not run twice at once (the session sweep, the retention sweep) holds a PostgreSQL
//! session-level advisory lock on a connection of its own. The lock goes with the connection, so
//! when the replica holding it dies (or loses its database connection) another replica's next try
//! takes the job over. The webhook delivery worker does not need it: deliveries are claimed row by
//! row (`FOR UPDATE SKIP LOCKED`), so every replica shares that work.

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;

/// The advisory-lock keys of the singleton jobs (arbitrary, fixed, distinct).
pub const SESSION_SWEEP: i64 = 0x494e_4c45_5401;
pub const RETENTION_SWEEP: i64 = 0x494e_4c45_5402;

/// Leadership of one job, held for as long as its connection lives.
pub struct Leader {
    key: i64,
    name: &'static str,
    conn: Option<PoolConnection<Postgres>>,
}

impl Leader {
    pub fn new(key: i64, name: &'static str) -> Leader {
        Leader {
            key,
            name,
            conn: None,
        }
    }

    /// Whether this replica runs the job now: keeps the lock while its connection answers, tries
    /// to take it otherwise.
    pub async fn lead(&mut self, db: &PgPool) -> bool {
        if let Some(conn) = self.conn.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut **conn).await.is_ok() {
                return true;
            }
            tracing::warn!(
                job = self.name,
                "lost the connection holding the job's lock; trying again"
            );
            // The server ends the lock with the connection; drop it without returning it.
            if let Some(c) = self.conn.take() {
                let _ = c.detach();
            }
        }
        let Ok(mut conn) = db.acquire().await else {
            return false;
        };
        match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *conn)
            .await
        {
            Ok(true) => {
                tracing::info!(job = self.name, "this replica runs the job");
                // Kept while leading and closed, never returned to the pool, when given up: a
                // pooled connection would carry the lock to its next user.
                self.conn = Some(conn);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!(job = self.name, error = %e, "advisory lock not taken");
                false
            }
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Closing the connection ends the lock; returning it to the pool would not.
        if let Some(c) = self.conn.take() {
            drop(c.detach());
        }
    }
}
