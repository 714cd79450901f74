//! The retention sweep: deletes events (with their deliveries and attempts) older than
//! `INLET_EVENT_RETENTION_DAYS`, in batches, a minute after start and then every ten minutes.

use std::time::Duration;

use super::leader::{self, Leader};
use super::{Shutdown, pause};
use crate::context::ApiContext;
use crate::store::events;

pub async fn run(ctx: ApiContext, mut shutdown: Shutdown) {
    let mut wait = Duration::from_secs(60);
    let mut leader = Leader::new(leader::RETENTION_SWEEP, "retention sweep");
    while !pause(&mut shutdown, wait).await {
        if !leader.lead(&ctx.db).await {
            // Another replica sweeps; look again in a minute in case it is gone.
            wait = Duration::from_secs(60);
            continue;
        }
        wait = Duration::from_secs(600);
        match sweep_once(&ctx).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "expired old events"),
            Err(e) => tracing::warn!(error = %e, "event retention sweep failed; will retry"),
        }
    }
}

/// One pass: deletes expired events in batches until none is left (or 100 batches); answers how many.
pub async fn sweep_once(ctx: &ApiContext) -> sqlx::Result<u64> {
    let mut conn = ctx.db.acquire().await?;
    let mut total = 0;
    for _ in 0..100 {
        let n = events::expire(&mut conn, ctx.config.event_retention_days.max(1)).await?;
        total += n;
        if n < events::EXPIRE_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}
