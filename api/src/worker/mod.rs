//! Background work of the control plane, started beside the HTTP server by `start` and stopped by
//! `Workers::drain`: the session sweep (`sweep`), the retention sweep (`retention`) and the webhook
//! delivery worker (`delivery`, with its outbound HTTP client in `client`). With several API
//! replicas the two sweeps run on one replica at a time (`leader`); deliveries are shared. Each worker watches one
//! shutdown signal and finishes what it holds (an in-flight delivery keeps its claim until its
//! answer is recorded) before it returns; nothing here is aborted mid-transaction.

pub mod client;
pub mod delivery;
pub mod leader;
pub mod retention;
pub mod sweep;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::ApiContext;

/// A shutdown signal the workers watch: `true` once they should stop taking new work.
pub type Shutdown = watch::Receiver<bool>;

/// Sleeps for `d` or until shutdown; answers `true` when shutdown was asked.
pub async fn pause(shutdown: &mut Shutdown, d: Duration) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Starts every background worker on `ctx`.
pub fn start(ctx: &ApiContext) -> Workers {
    let (stop, rx) = watch::channel(false);
    let mut tasks = vec![
        (
            "session sweep",
            tokio::spawn(sweep::run(ctx.clone(), rx.clone())),
        ),
        (
            "retention sweep",
            tokio::spawn(retention::run(ctx.clone(), rx.clone())),
        ),
    ];
    if ctx.config.webhook_concurrency > 0 {
        tasks.push((
            "webhook delivery",
            tokio::spawn(delivery::run(ctx.clone(), rx)),
        ));
    }
    Workers { stop, tasks }
}

impl Workers {
    /// Signals shutdown and waits up to `within` for every worker to finish what it holds; a worker
    /// still busy then is left to end with the process (its claims come back when their lease ends).
    pub async fn drain(self, within: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + within;
        for (name, task) in self.tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(worker = name, error = %e, "worker ended abnormally"),
                Err(_) => {
                    tracing::warn!(worker = name, "worker still busy at shutdown; leaving it")
                }
            }
        }
    }
}
