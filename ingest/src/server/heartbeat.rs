//! The node heartbeat (SPEC §5): every 2 s the ingest tells the API which sessions are live on it, and
//! cuts the ones the API names (revoked or rotated keys with `disconnect_active`, disabled or deleted
//! streams, takeovers, suspended tenants). A cut reaches the encoder within about one heartbeat.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use inlet_contract::publish::Allow;
use inlet_contract::session::{HEARTBEAT_PATH, Heartbeat, HeartbeatAnswer, LiveSession};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// How often the node reports.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Why the API cut a session: the reason code and the sentence for the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub reason: String,
    pub description: String,
}

/// The live sessions of this node, each with the channel that cuts it.
#[derive(Default)]
pub struct Registry {
    live: Mutex<HashMap<Uuid, (Allow, mpsc::UnboundedSender<Cut>)>>,
}

impl Registry {
    /// Registers a session; the receiver yields a `Cut` when the API asks for one.
    pub fn register(&self, allow: &Allow) -> mpsc::UnboundedReceiver<Cut> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(allow.session_id, (allow.clone(), tx));
        rx
    }

    pub fn deregister(&self, session: Uuid) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&session);
    }

    fn snapshot(&self) -> Vec<LiveSession> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(a, _)| LiveSession {
                session_id: a.session_id,
                stream_id: a.stream_id,
                tenant_id: a.tenant_id,
                key_id: a.key_id.clone(),
            })
            .collect()
    }

    fn cut(&self, session: Uuid, cut: Cut) {
        if let Some((_, tx)) = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&session)
        {
            let _ = tx.send(cut);
        }
    }
}

/// Heartbeats until `shutdown` turns true.
pub async fn run(
    registry: std::sync::Arc<Registry>,
    http: reqwest::Client,
    api_url: String,
    secret: String,
    node_id: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let url = format!("{}{HEARTBEAT_PATH}", api_url.trim_end_matches('/'));
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let body = Heartbeat {
            node_id: node_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            sessions: registry.snapshot(),
        };
        let answer = async {
            let r = http
                .post(&url)
                .bearer_auth(&secret)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "the API answered {}", r.status());
            Ok(r.json::<HeartbeatAnswer>().await?)
        }
        .await;
        match answer {
            Ok(a) => {
                for d in a.disconnect {
                    tracing::info!(session = %d.session_id, reason = %d.reason, "the API asked to cut a session");
                    registry.cut(
                        d.session_id,
                        Cut {
                            reason: d.reason,
                            description: d.description,
                        },
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat not delivered; the API ends this node's sessions if it stays unreachable")
            }
        }
    }
}
