//! The node heartbeat (docs/api.md, "Internal API"): every 2 s the ingest tells the API which
//! sessions are live on it, and cuts the ones the API names (revoked or rotated keys with
//! `disconnect_active`, disabled or deleted streams, takeovers, suspended tenants). A cut reaches
//! the encoder within about one heartbeat. Parked sessions (waiting for a reconnect) are reported
//! as reconnecting.

use std::time::Duration;

use inlet_contract::session::{HEARTBEAT_PATH, Heartbeat, HeartbeatAnswer, NodeEndpoints};
use tokio::sync::watch;

use super::sessions::{Cut, Sessions};

/// How often the node reports.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Heartbeats until `shutdown` turns true.
pub async fn run(
    sessions: std::sync::Arc<Sessions>,
    http: reqwest::Client,
    api_url: String,
    secret: String,
    node_id: String,
    endpoints: NodeEndpoints,
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
            sessions: sessions.snapshot(),
            endpoints: endpoints.clone(),
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
                    sessions.cut(
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
