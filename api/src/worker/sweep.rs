//! The session sweep: ends what no report will end, every few seconds until shutdown. The sessions
//! of nodes that stopped heartbeating end as `node_lost`; sessions whose publisher has been gone for
//! longer than their reconnect window plus `ABANDONED_GRACE_SECS` end with the reason of their
//! disconnect (the ingest's `ended` never came). Each end is one transaction through the session
//! lifecycle (`store::sessions_live::ended`), which writes its events. About once a minute it also
//! deletes health reports older than `HEALTH_RETENTION_DAYS`.

use std::time::{Duration, Instant};

use inlet_contract::session::EndReason;

use super::leader::{self, Leader};
use super::{Shutdown, pause};
use crate::context::ApiContext;
use crate::store::{nodes, sessions_live as live};

/// How long health reports are kept.
pub const HEALTH_RETENTION_DAYS: i64 = 7;
/// How long past its reconnect window the API waits for a disconnected session's `ended`.
pub const ABANDONED_GRACE_SECS: i64 = 15;

pub async fn run(ctx: ApiContext, mut shutdown: Shutdown) {
    let every = Duration::from_secs(ctx.config.node_lost_secs.clamp(1, 5));
    let mut last_expiry: Option<Instant> = None;
    let mut leader = Leader::new(leader::SESSION_SWEEP, "session sweep");
    while !pause(&mut shutdown, every).await {
        if !leader.lead(&ctx.db).await {
            continue;
        }
        if let Err(e) = sweep_once(&ctx).await {
            tracing::warn!(error = %e, "session sweep failed; will retry");
        }
        if last_expiry.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            last_expiry = Some(Instant::now());
            match expire_health(&ctx).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "expired old session health reports"),
                Err(e) => tracing::warn!(error = %e, "health retention sweep failed; will retry"),
            }
        }
    }
}

async fn expire_health(ctx: &ApiContext) -> sqlx::Result<u64> {
    let mut conn = ctx.db.acquire().await?;
    let mut total = 0;
    // Batches keep each statement short; a backlog is worked off over a few minutes.
    for _ in 0..20 {
        let n = live::expire_health(&mut conn, HEALTH_RETENTION_DAYS).await?;
        total += n;
        if n < live::EXPIRE_BATCH {
            break;
        }
    }
    Ok(total)
}

async fn end(ctx: &ApiContext, r: live::SessionRef<'_>, reason: &str) -> sqlx::Result<bool> {
    let mut tx = ctx.db.begin().await?;
    let ended = live::ended(&mut tx, r, reason, chrono::Utc::now()).await?;
    tx.commit().await?;
    if ended {
        ctx.metrics
            .session_ended(crate::metrics::end_reason_label(reason));
    }
    Ok(ended)
}

async fn sweep_once(ctx: &ApiContext) -> sqlx::Result<()> {
    for (session, tenant, stream) in nodes::lost(&ctx.db, ctx.config.node_lost_secs as i64).await? {
        let r = live::SessionRef {
            session,
            tenant,
            stream,
            node: None,
        };
        if end(ctx, r, EndReason::NodeLost.as_str()).await? {
            tracing::warn!(session = %session, stream = %stream, "session ended: its ingest node stopped heartbeating");
        }
    }
    let mut conn = ctx.db.acquire().await?;
    let abandoned = live::abandoned(&mut conn, ABANDONED_GRACE_SECS).await?;
    drop(conn);
    for (session, tenant, stream, reason) in abandoned {
        let r = live::SessionRef {
            session,
            tenant,
            stream,
            node: None,
        };
        if end(ctx, r, &reason).await? {
            tracing::warn!(session = %session, stream = %stream, reason = %reason, "session ended: its publisher did not come back within the reconnect window");
        }
    }
    Ok(())
}
