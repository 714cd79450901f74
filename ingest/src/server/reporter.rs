//! Delivers session events to the API (SPEC §5), in order, batched, retried with backoff until the API
//! has them, for as long as the process lives. Sending never blocks a connection.

use std::time::Duration;

use chrono::Utc;
use inlet_contract::publish::Allow;
use inlet_contract::session::{SESSION_EVENTS_PATH, SessionEvent, SessionEventKind, SessionEvents};
use tokio::sync::mpsc;

/// Most events sent in one call.
const BATCH: usize = 256;

/// A handle to queue events; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<SessionEvent>,
    node_id: String,
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
        tokio::spawn(deliver(rx, url, node_secret.to_string(), http));
        Reporter {
            tx,
            node_id: node_id.to_string(),
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
        // The receiver lives as long as the runtime; a closed channel means we are shutting down.
        let _ = self.tx.send(event);
    }
}

async fn deliver(
    mut rx: mpsc::UnboundedReceiver<SessionEvent>,
    url: String,
    secret: String,
    http: reqwest::Client,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
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
    }
}
