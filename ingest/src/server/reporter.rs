//! Delivers session events to the API (docs/api.md, "Internal API"), in order, batched, retried
//! with backoff until the API has them, for as long as the process lives; at shutdown the ingest
//! waits briefly for the queue to drain. Sending never blocks a connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use inlet_contract::publish::Allow;
use inlet_contract::session::{SESSION_EVENTS_PATH, SessionEvent, SessionEventKind, SessionEvents};
use tokio::sync::mpsc;

/// Most events sent in one call.
const BATCH: usize = 256;
/// A batch of only `health` reports waits this long for more events, so the API stores the reports
/// of many sessions in one transaction; any other event ends the wait at once.
const HEALTH_COALESCE: Duration = Duration::from_millis(1000);

fn is_health(e: &SessionEvent) -> bool {
    matches!(e.kind, SessionEventKind::Health(_))
}

/// Lets a batch of health reports gather more events for up to `HEALTH_COALESCE`; returns early
/// when another kind of event arrives (it is sent with them) or the batch is full.
async fn coalesce_health(
    rx: &mut mpsc::UnboundedReceiver<SessionEvent>,
    batch: &mut Vec<SessionEvent>,
) {
    if !batch.iter().all(is_health) {
        return;
    }
    let until = tokio::time::Instant::now() + HEALTH_COALESCE;
    while batch.len() < BATCH {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(e)) => {
                let urgent = !is_health(&e);
                batch.push(e);
                if urgent {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// A handle to queue events; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<SessionEvent>,
    node_id: String,
    /// Events queued or in flight.
    pending: Arc<AtomicUsize>,
}

impl Reporter {
    /// Starts the delivery task.
    pub fn start(
        api_url: &str,
        node_secret: &str,
        node_id: &str,
        http: reqwest::Client,
    ) -> Reporter {
        let (tx, rx) = mpsc::unbounded_channel();
        let url = format!("{}{SESSION_EVENTS_PATH}", api_url.trim_end_matches('/'));
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(deliver(
            rx,
            url,
            node_secret.to_string(),
            http,
            pending.clone(),
        ));
        Reporter {
            tx,
            node_id: node_id.to_string(),
            pending,
        }
    }

    pub fn report(&self, allow: &Allow, kind: SessionEventKind) {
        let event = SessionEvent {
            session_id: allow.session_id,
            stream_id: allow.stream_id,
            tenant_id: allow.tenant_id,
            node_id: self.node_id.clone(),
            at: Utc::now(),
            kind,
        };
        self.pending.fetch_add(1, Ordering::AcqRel);
        // The receiver lives as long as the runtime; a closed channel means we are shutting down.
        if self.tx.send(event).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits until every queued event is delivered, or `limit` passes (at shutdown, so `ended`
    /// events reach the API before the process exits).
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

async fn deliver(
    mut rx: mpsc::UnboundedReceiver<SessionEvent>,
    url: String,
    secret: String,
    http: reqwest::Client,
    pending: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        coalesce_health(&mut rx, &mut batch).await;
        let body = SessionEvents {
            events: std::mem::take(&mut batch),
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            let sent = http
                .post(&url)
                .bearer_auth(&secret)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r)
                    if r.status().is_client_error()
                        && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    // The API refuses these events for good (a bug or a version mismatch): retrying
                    // cannot help, and holding them would block every later event.
                    tracing::error!(status = %r.status(), events = body.events.len(), "session events refused by the API; dropped");
                    break;
                }
                other => {
                    let why = match other {
                        Ok(r) => r.status().to_string(),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!(error = %why, retry_in_ms = backoff.as_millis() as u64, "session events not delivered; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        pending.fetch_sub(body.events.len(), Ordering::AcqRel);
    }
}
