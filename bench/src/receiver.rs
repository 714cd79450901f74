//! A webhook receiver for the benchmarks: plain HTTP/1.1 on 127.0.0.1 (no TLS), every POST read to
//! its end and answered `204 No Content` at once, the time each arrived recorded with the
//! `webhook-id` it carried (the event's id). It checks nothing (no signature): it stands for the
//! cheapest possible customer endpoint, so that what is measured is the sender.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::time::Instant;

/// The path deliveries are sent to.
pub const PATH: &str = "/hook";

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The `webhook-id` header (empty when missing).
    pub id: String,
    /// When its body had been read.
    pub at: Instant,
    pub body_bytes: usize,
}

#[derive(Default)]
struct Shared {
    arrivals: Mutex<Vec<Arrival>>,
}

/// A running receiver; it stops when the runtime it was started on shuts down.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut a) = shared.arrivals.lock() {
        a.push(Arrival {
            id,
            at,
            body_bytes: body.len(),
        });
    }
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Listens on a free loopback port; serves on `rt` (give it a runtime of its own so that its
    /// CPU shows under its threads' name).
    pub async fn start(rt: &tokio::runtime::Handle) -> anyhow::Result<Receiver> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("could not bind the receiver")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route(PATH, post(hook))
            .with_state(shared.clone());
        rt.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("receiver: {e}");
                    return;
                }
            };
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("receiver stopped: {e}");
            }
        });
        Ok(Receiver { addr, shared })
    }

    /// The URL to register as a webhook.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.shared.arrivals.lock().map_or(0, |a| a.len())
    }

    /// Waits until `n` requests in all have arrived; fails after `limit` with no new arrival
    /// (so a slow but moving sender is waited for).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let mut seen = self.count();
        let mut last_progress = Instant::now();
        while seen < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = self.count();
            if now > seen {
                seen = now;
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= limit {
                bail!("{seen} of {n} deliveries arrived; none for {limit:?}");
            }
        }
        Ok(())
    }

    /// Takes every arrival recorded so far (the record starts empty again).
    pub fn take(&self) -> Vec<Arrival> {
        let mut a = self
            .shared
            .arrivals
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        a.sort_by_key(|x| x.at);
        a
    }
}
