//! The webhook delivery worker (docs/webhooks.md, "Delivery"): claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease (so several API replicas share the work and a crashed
//! worker's claims come back when their lease ends), woken by `LISTEN/NOTIFY` with a poll as the
//! fallback, sends each signed, records the attempt and schedules the next one (the retry schedule
//! with ±20 % jitter, or `Retry-After`), disables an endpoint that answers `410 Gone` or has failed
//! for `INLET_WEBHOOK_DISABLE_AFTER_SECS`, and on shutdown finishes the sends it holds.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use inlet_contract::events::EventType;
use rand::Rng;
use serde_json::json;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::client::{Answer, WebhookClient};
use super::{Shutdown, pause};
use crate::context::ApiContext;
use crate::domain::crypto;
use crate::domain::webhook;
use crate::store::events::{Envelope, EventRow, NewEvent, Subject};
use crate::store::webhooks::{self as hooks, Claimed, Outcome};

/// The fixed part of everything a delivery needs.
struct Deliverer {
    ctx: ApiContext,
    client: WebhookClient,
    schedule: Vec<Duration>,
    owner: String,
}

/// Seconds a claim is held: the request timeout plus room to record the answer.
fn lease_secs(ctx: &ApiContext) -> i64 {
    ctx.config.webhook_timeout_secs as i64 + 15
}

pub async fn run(ctx: ApiContext, mut shutdown: Shutdown) {
    let client = match WebhookClient::new(
        Duration::from_secs(ctx.config.webhook_timeout_secs.max(1)),
        ctx.config.webhook_allow_private,
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client not built; deliveries are off in this process");
            return;
        }
    };
    let schedule = webhook::parse_schedule(&ctx.config.webhook_retry_schedule).unwrap_or_else(|e| {
        tracing::error!(error = %e, "INLET_WEBHOOK_RETRY_SCHEDULE is invalid; using the default");
        webhook::parse_schedule("5s,5m,30m,2h,5h,10h,14h,20h,24h").unwrap_or_default()
    });
    let d = Arc::new(Deliverer {
        owner: format!("api-{}", Uuid::now_v7()),
        ctx: ctx.clone(),
        client,
        schedule,
    });
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(ctx.clone(), wake.clone(), shutdown.clone()));
    let permits = Arc::new(Semaphore::new(ctx.config.webhook_concurrency.max(1)));
    let poll = Duration::from_millis(ctx.config.webhook_poll_ms.max(10));
    let mut tasks: JoinSet<()> = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = permits.available_permits();
        let mut full_batch = false;
        if free > 0 {
            let want = free.min(100);
            match hooks::claim(&ctx.db, &d.owner, want as i64, lease_secs(&ctx)).await {
                Ok(batch) => {
                    full_batch = batch.len() == want;
                    for c in batch {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        let d = d.clone();
                        tasks.spawn(async move {
                            d.deliver(c).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook claim failed; retrying");
                    if pause(&mut shutdown, Duration::from_secs(1)).await {
                        break;
                    }
                    continue;
                }
            }
        }
        if full_batch {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
            // A finished send frees a permit and may release a `per_stream` successor.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Drain: the sends in flight keep their claims until their answers are recorded.
    while tasks.join_next().await.is_some() {}
    listener.abort();
    let _ = listener.await;
}

/// Wakes the worker on every notification; reconnects when the connection drops (the poll covers
/// what is missed meanwhile).
async fn listen(ctx: ApiContext, wake: Arc<Notify>, mut shutdown: Shutdown) {
    loop {
        let mut listener = match PgListener::connect_with(&ctx.db).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "webhook listener not connected; retrying");
                if pause(&mut shutdown, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(hooks::CHANNEL).await {
            tracing::debug!(error = %e, "LISTEN failed; retrying");
            if pause(&mut shutdown, Duration::from_secs(1)).await {
                return;
            }
            continue;
        }
        loop {
            tokio::select! {
                n = listener.try_recv() => match n {
                    Ok(Some(_)) => wake.notify_one(),
                    // The connection was lost: notifications meanwhile are lost too, so look now.
                    Ok(None) => { wake.notify_one(); break; }
                    Err(e) => {
                        tracing::debug!(error = %e, "webhook listener failed; reconnecting");
                        wake.notify_one();
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// The body receivers get: the envelope, with `data` replaced by a pointer to the replay API when
/// it would make the body larger than 64 KiB.
pub fn body_of(event: &EventRow) -> Vec<u8> {
    let envelope = Envelope::from(event.clone());
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    if body.len() <= webhook::MAX_BODY_BYTES {
        return body;
    }
    let mut short = envelope;
    short.data = json!({"truncated": true, "fetch": format!("/v1/events/{}", event.id)});
    serde_json::to_vec(&short).unwrap_or_default()
}

/// The signed request headers of one attempt, for every secret still valid. An error when the
/// current secret cannot be unsealed (`INLET_SECRET_KEY` changed): nothing is sent unsigned.
pub fn signed_headers(
    seal_key: &[u8; 32],
    current: &[u8],
    previous: Option<(&[u8], chrono::DateTime<Utc>)>,
    event_id: &str,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, String> {
    let now = Utc::now();
    let open =
        |sealed: &[u8]| crypto::open(seal_key, sealed).and_then(|b| String::from_utf8(b).ok());
    let Some(current) = open(current) else {
        return Err("not sent: the endpoint's secret cannot be unsealed (was INLET_SECRET_KEY changed?); rotate the secret".into());
    };
    let mut secrets = vec![current];
    if let Some((sealed, until)) = previous.filter(|(_, until)| *until > now) {
        match open(sealed) {
            Some(s) => secrets.push(s),
            None => {
                tracing::warn!(event = event_id, until = %until, "the previous webhook secret cannot be unsealed; signing with the current one only")
            }
        }
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let ts = now.timestamp();
    let sig = webhook::sign(&refs, event_id, ts, body);
    Ok(vec![
        ("webhook-id", event_id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.standard),
        ("inlet-signature", sig.inlet),
    ])
}

/// Sends one signed attempt, or answers why it was not sent.
pub async fn send_signed(
    client: &WebhookClient,
    seal_key: &[u8; 32],
    url: &str,
    current: &[u8],
    previous: Option<(&[u8], chrono::DateTime<Utc>)>,
    event: &EventRow,
) -> Answer {
    let body = body_of(event);
    match signed_headers(seal_key, current, previous, &event.id, &body) {
        Ok(headers) => client.post(url, &headers, body).await,
        Err(error) => Answer {
            status: None,
            retry_after: None,
            excerpt: String::new(),
            error: Some(error),
            latency: Duration::ZERO,
        },
    }
}

impl Deliverer {
    async fn deliver(&self, c: Claimed) {
        let ctx = &self.ctx;
        let answer = send_signed(
            &self.client,
            &ctx.seal_key,
            &c.url,
            &c.secret_sealed,
            c.previous_secret_sealed
                .as_deref()
                .zip(c.previous_secret_expires_at),
            &c.event,
        )
        .await;
        let attempt = c.attempts + 1;
        let gone = answer.status == Some(410);
        let outcome = self.outcome(&answer, attempt, gone);
        let result = match (answer.succeeded(), outcome.next_attempt_at.is_some(), gone) {
            (true, _, _) => "succeeded",
            (false, _, true) => "gone",
            (false, true, _) => "failed",
            (false, false, _) => "exhausted",
        };
        ctx.metrics
            .webhook_delivery(result, answer.latency.as_secs_f64());
        if answer.succeeded() {
            let lag = (Utc::now() - c.event.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            ctx.metrics.webhook_delivery_lag.observe(lag);
        }
        let failing_since = match self.record(&c, &outcome).await {
            Some(f) => f,
            None => return,
        };
        if gone {
            self.disable(&c, "the endpoint answered 410 Gone").await;
        } else if let Some(since) = failing_since
            && (Utc::now() - since).num_seconds() >= ctx.config.webhook_disable_after_secs as i64
        {
            let days = ctx.config.webhook_disable_after_secs as f64 / 86_400.0;
            self.disable(&c, &format!("every delivery failed for {days:.1} days"))
                .await;
        }
    }

    fn outcome(&self, a: &Answer, attempt: i32, gone: bool) -> Outcome {
        let succeeded = a.succeeded();
        let next = if succeeded || gone {
            None
        } else {
            let planned = self.schedule.get(attempt as usize - 1).copied();
            planned.map(|d| {
                let wait = a
                    .retry_after
                    .unwrap_or_else(|| webhook::jittered(d, rand::rng().random::<f64>()));
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
            })
        };
        Outcome {
            succeeded,
            status_code: a.status.map(i32::from),
            error: a.error.clone(),
            latency_ms: a.latency.as_millis().min(i32::MAX as u128) as i32,
            response_excerpt: a.excerpt.clone(),
            next_attempt_at: next,
            status: if succeeded {
                "succeeded"
            } else if gone {
                "failed"
            } else {
                "exhausted"
            },
        }
    }

    /// Records the attempt, retrying while the database is away (up to the lease: after that the
    /// delivery is someone else's and will be sent again, with the same `webhook-id`). `None` when
    /// it was not recorded.
    async fn record(&self, c: &Claimed, o: &Outcome) -> Option<Option<chrono::DateTime<Utc>>> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(lease_secs(&self.ctx) as u64 - 2);
        let mut wait = Duration::from_millis(100);
        loop {
            match hooks::complete(&self.ctx.db, &self.owner, c, o).await {
                Ok(Some(f)) => return Some(f),
                Ok(None) => {
                    tracing::warn!(delivery = %c.delivery_id, "delivery claim was lost before its answer was recorded; it will be sent again");
                    return None;
                }
                Err(e) if tokio::time::Instant::now() + wait < deadline => {
                    tracing::warn!(delivery = %c.delivery_id, error = %e, "recording a delivery failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(delivery = %c.delivery_id, error = %e, "delivery not recorded; it will be sent again when its claim ends");
                    return None;
                }
            }
        }
    }

    async fn disable(&self, c: &Claimed, reason: &str) {
        let res =
            disable_endpoint(&self.ctx, c.event.tenant_id, c.webhook_id, &c.url, reason).await;
        match res {
            Ok(true) => {
                tracing::warn!(webhook = %c.webhook_id, reason, "webhook endpoint disabled");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(webhook = %c.webhook_id, error = %e, "disabling a webhook failed")
            }
        }
    }
}

/// Disables an endpoint with `webhook.disabled` and an audit row, in one transaction; `true` when
/// it was enabled.
pub async fn disable_endpoint(
    ctx: &ApiContext,
    tenant_id: Uuid,
    webhook_id: Uuid,
    url: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let mut tx = ctx.db.begin().await?;
    if !hooks::disable(&mut tx, tenant_id, webhook_id, reason).await? {
        return Ok(false);
    }
    let id = webhook_id.to_string();
    crate::store::events::emit(
        &mut tx,
        NewEvent {
            tenant_id,
            kind: EventType::WebhookDisabled,
            subject: Subject::Other { kind: "webhook", id: &id },
            fields: json!({"webhook": {"id": webhook_id, "url": url, "enabled": false}, "reason": reason}),
            fanout: true,
        },
    )
    .await?;
    crate::store::audit::insert(
        &mut tx,
        crate::store::audit::Entry {
            tenant_id,
            actor: "system",
            action: "webhook.disabled",
            target_type: "webhook",
            target_id: &id,
            details: json!({"reason": reason}),
            client_ip: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
