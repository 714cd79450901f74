//! The publish sessions of this node and their sinks, across connections. A session outlives its
//! connection: when a publisher drops, the session is parked for its reconnect window, and a publish
//! the API resumes (same session id) continues it — the same HLS output after a discontinuity. A
//! resume that finds the session still live here takes it over: the old connection is cut and no
//! longer feeds the sink. The heartbeat reports every session (parked ones as reconnecting) and
//! delivers the API's cuts through this table.
//!
//! The table owns the session's sink and its end: whoever ends a session (the last connection, the
//! window's expiry, a cut while parked) calls the sink's `end` and reports `ended`, exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inlet_contract::publish::Allow;
use inlet_contract::session::{LiveSession, SessionEventKind};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::metrics::IngestMetrics;
use super::reporter::Reporter;
use crate::media::MediaSink;

/// A session's sink, shared by the connections that feed it in turn.
pub type SharedSink = Arc<Mutex<Box<dyn MediaSink>>>;

/// A parked session ends this long after its reconnect window, so the API — which decides resumes
/// by the window — never resumes a session the node already ended.
const EXPIRY_MARGIN: Duration = Duration::from_secs(2);

/// Why the API (or a takeover) cut a connection: the reason code and the sentence for the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub reason: String,
    pub description: String,
}

/// What a connection holds of its session.
pub struct Attached {
    pub allow: Allow,
    pub sink: SharedSink,
    /// Which connection of the session this is; a newer one supersedes it.
    pub epoch: u64,
    /// The session existed here and continues (a reconnect or a takeover).
    pub continued: bool,
    state: Arc<State>,
}

impl Attached {
    /// Whether this connection still feeds the session (no newer connection took it over).
    pub fn current(&self) -> bool {
        self.state.epoch.load(Ordering::Acquire) == self.epoch
    }

    /// Counts media bytes of the session (all its connections) and returns the total.
    pub fn add_bytes(&self, n: u64) -> u64 {
        self.state.bytes.fetch_add(n, Ordering::Relaxed) + n
    }

    pub fn bytes(&self) -> u64 {
        self.state.bytes.load(Ordering::Relaxed)
    }
}

struct State {
    epoch: AtomicU64,
    bytes: AtomicU64,
}

struct Entry {
    allow: Allow,
    sink: SharedSink,
    state: Arc<State>,
    /// The live connection's cut channel; `None` while parked.
    cut: Option<mpsc::UnboundedSender<Cut>>,
}

/// The sessions of this node.
pub struct Sessions {
    map: Mutex<HashMap<Uuid, Entry>>,
    reporter: Reporter,
    metrics: Arc<IngestMetrics>,
}

impl Sessions {
    pub fn new(reporter: Reporter, metrics: Arc<IngestMetrics>) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            reporter,
            metrics,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches a connection to its accepted session: the one held here when the API resumed it
    /// (its sink marks a discontinuity; a live connection on it is cut), else a new one with the
    /// sink `open` makes. The receiver yields the cuts meant for this connection.
    pub fn attach(
        &self,
        allow: &Allow,
        open: impl FnOnce() -> Box<dyn MediaSink>,
    ) -> (Attached, mpsc::UnboundedReceiver<Cut>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut map = self.map();
        if allow.resumed
            && let Some(e) = map.get_mut(&allow.session_id)
        {
            let epoch = e.state.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            self.metrics.reconnects.inc();
            match e.cut.replace(tx) {
                None => {
                    self.metrics.reconnecting_sessions.dec();
                }
                Some(old) => {
                    let _ = old.send(Cut {
                        reason: "takeover".into(),
                        description:
                            "Another connection with the same credentials took over this stream."
                                .into(),
                    });
                }
            }
            e.allow = allow.clone();
            let attached = Attached {
                allow: allow.clone(),
                sink: e.sink.clone(),
                epoch,
                continued: true,
                state: e.state.clone(),
            };
            drop(map);
            attached
                .sink
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .resume();
            return (attached, rx);
        }
        let state = Arc::new(State {
            epoch: AtomicU64::new(1),
            bytes: AtomicU64::new(0),
        });
        let sink: SharedSink = Arc::new(Mutex::new(open()));
        let replaced = map.insert(
            allow.session_id,
            Entry {
                allow: allow.clone(),
                sink: sink.clone(),
                state: state.clone(),
                cut: Some(tx),
            },
        );
        drop(map);
        if let Some(old) = replaced {
            // An id reused without `resumed` (should not happen): the old sink still ends cleanly.
            self.finish(&old.allow, &old.sink, "replaced");
        }
        (
            Attached {
                allow: allow.clone(),
                sink,
                epoch: 1,
                continued: false,
                state,
            },
            rx,
        )
    }

    /// The connection of `a` ended with `reason`. Unless a newer connection took the session over,
    /// the session is parked for its reconnect window when `park` (reported `disconnected`, ended
    /// when the window passes without a resume), or ended now.
    pub fn detach(self: &Arc<Self>, a: &Attached, reason: &str, park: bool) {
        if !a.current() {
            return;
        }
        let session = a.allow.session_id;
        let mut map = self.map();
        let Some(entry) = map.get_mut(&session) else {
            return;
        };
        if park {
            entry.cut = None;
            self.metrics.reconnecting_sessions.inc();
            let allow = entry.allow.clone();
            drop(map);
            self.reporter.report(
                &allow,
                SessionEventKind::Disconnected {
                    reason: reason.to_string(),
                },
            );
            let window = Duration::from_secs(u64::from(allow.reconnect_window_seconds));
            let (table, epoch, reason) = (self.clone(), a.epoch, reason.to_string());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    tokio::time::sleep(window + EXPIRY_MARGIN).await;
                    table.expire(session, epoch, &reason);
                });
            }
        } else if let Some(entry) = map.remove(&session) {
            drop(map);
            self.finish(&entry.allow, &entry.sink, reason);
        }
    }

    /// Ends a parked session whose window passed, unless a connection resumed it since.
    fn expire(&self, session: Uuid, epoch: u64, reason: &str) {
        let mut map = self.map();
        let still_parked = map
            .get(&session)
            .is_some_and(|e| e.cut.is_none() && e.state.epoch.load(Ordering::Acquire) == epoch);
        if still_parked && let Some(entry) = map.remove(&session) {
            drop(map);
            self.metrics.reconnecting_sessions.dec();
            self.finish(&entry.allow, &entry.sink, reason);
        }
    }

    /// Ends every parked session now (at shutdown: no timer outlives the process).
    pub fn end_parked(&self, reason: &str) {
        let parked: Vec<Entry> = {
            let mut map = self.map();
            let ids: Vec<Uuid> = map
                .iter()
                .filter(|(_, e)| e.cut.is_none())
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for e in parked {
            self.metrics.reconnecting_sessions.dec();
            self.finish(&e.allow, &e.sink, reason);
        }
    }

    fn finish(&self, allow: &Allow, sink: &SharedSink, reason: &str) {
        sink.lock().unwrap_or_else(|p| p.into_inner()).end(reason);
        self.reporter.report(
            allow,
            SessionEventKind::Ended {
                reason: reason.to_string(),
            },
        );
    }

    /// Every session of this node, for the heartbeat.
    pub fn snapshot(&self) -> Vec<LiveSession> {
        self.map()
            .values()
            .map(|e| LiveSession {
                session_id: e.allow.session_id,
                stream_id: e.allow.stream_id,
                tenant_id: e.allow.tenant_id,
                key_id: e.allow.key_id.clone(),
                reconnecting: e.cut.is_none(),
            })
            .collect()
    }

    /// A cut the API asked for: the live connection is told; a parked session ends at once.
    pub fn cut(&self, session: Uuid, cut: Cut) {
        let mut map = self.map();
        match map.get(&session).map(|e| e.cut.clone()) {
            Some(Some(tx)) => {
                let _ = tx.send(cut);
            }
            Some(None) => {
                if let Some(entry) = map.remove(&session) {
                    drop(map);
                    self.metrics.reconnecting_sessions.dec();
                    self.finish(&entry.allow, &entry.sink, &cut.reason);
                }
            }
            None => {}
        }
    }

    /// Sessions held here (live or parked).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
