//! The IO shell around the RTMP core: TCP and TLS listeners, one task per connection, connection
//! limits, graceful shutdown, authorization through the API, and the HTTP endpoints (`/healthz`,
//! `/readyz`, `/metrics`).

pub mod authorizer;
pub mod connection;
pub mod heartbeat;
pub mod http;
pub mod metrics;
pub mod proxy;
pub mod reporter;
pub mod sessions;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inlet_contract::publish::Allow;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::IngestConfig;
use crate::hls;
use crate::hls::segmenter::HlsSettings;
use crate::hls::sink::HlsSink;
use crate::media::{CountingSink, MediaSink};
use crate::rtmp::SessionLimits;
use crate::rtmp::chunk::ChunkLimits;
use authorizer::ApiClient;
use inlet_contract::session::SessionEventKind;
use metrics::IngestMetrics;
use reporter::Reporter;

/// What a sink may report through: session events and the node's metrics.
pub struct SinkContext<'a> {
    pub reporter: &'a Reporter,
    pub metrics: &'a Arc<IngestMetrics>,
}

/// Opens the sink of an accepted publish (the HLS packager; a counter in tests and benchmarks).
pub trait SinkFactory: Send + Sync {
    fn open(&self, allow: &Allow, ctx: &SinkContext<'_>) -> Box<dyn MediaSink>;
}

/// Discards frames (benchmarks of the RTMP path alone).
pub struct DiscardSinks;

impl SinkFactory for DiscardSinks {
    fn open(&self, _allow: &Allow, _ctx: &SinkContext<'_>) -> Box<dyn MediaSink> {
        Box::new(CountingSink::default())
    }
}

/// Packages every session as HLS under `<hls dir>/<playback id>/`, reports `hls_ready` with the
/// playback URL, and removes the directory `hls_dispose` after the session ends.
pub struct HlsSinks {
    dir: std::path::PathBuf,
    public_url: String,
    settings: HlsSettings,
    dispose: Duration,
}

impl HlsSinks {
    pub fn new(config: &IngestConfig) -> HlsSinks {
        HlsSinks {
            dir: config.hls_dir(),
            public_url: config.hls_public_url.trim_end_matches('/').to_string(),
            settings: HlsSettings {
                fragment: Duration::from_millis(config.hls_fragment_ms.max(100)),
                window: config.hls_window.max(1),
                ..HlsSettings::default()
            },
            dispose: Duration::from_secs(config.hls_dispose_secs),
        }
    }
}

impl SinkFactory for HlsSinks {
    fn open(&self, allow: &Allow, ctx: &SinkContext<'_>) -> Box<dyn MediaSink> {
        let dir = self.dir.join(&allow.playback_id);
        let url = format!(
            "{}/hls/{}/{}",
            self.public_url,
            allow.playback_id,
            hls::sink::PLAYLIST
        );
        let (ready_reporter, ready_allow) = (ctx.reporter.clone(), allow.clone());
        let (ready_metrics, opened) = (ctx.metrics.clone(), std::time::Instant::now());
        let on_ready = Box::new(move || {
            ready_metrics
                .time_to_hls_ready
                .observe(opened.elapsed().as_secs_f64());
            ready_reporter.report(&ready_allow, SessionEventKind::HlsReady { hls_url: url });
        });
        // The session id's random tail names this session's segments and marks the directory as its.
        let simple = allow.session_id.simple().to_string();
        let prefix = &simple[simple.len() - 8..];
        let (dispose, dispose_dir, owner, recording) = (
            self.dispose,
            dir.clone(),
            prefix.to_string(),
            allow.recording,
        );
        // A recording stream keeps its output.
        let on_end = Box::new(move |_reason: &str| {
            if !recording {
                schedule_dispose(dispose_dir, owner, dispose)
            }
        });
        match HlsSink::new(dir, self.settings, prefix, on_ready, on_end) {
            Ok(sink) => Box::new(sink.counting(ctx.metrics.hls_segments.clone())),
            Err(e) => {
                tracing::error!(error = %e, playback_id = %allow.playback_id, "cannot create the HLS directory; frames are discarded");
                Box::new(CountingSink::default())
            }
        }
    }
}

/// The sinks the configuration asks for: HLS packaging, or discarding.
pub fn sinks_for(config: &IngestConfig) -> Arc<dyn SinkFactory> {
    if config.hls_enabled {
        Arc::new(HlsSinks::new(config))
    } else {
        Arc::new(DiscardSinks)
    }
}

/// Removes a finished session's HLS directory after `after`, unless a newer session of the stream
/// owns it by then (its marker file names the session that wrote last).
fn schedule_dispose(dir: std::path::PathBuf, owner: String, after: Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        tokio::time::sleep(after).await;
        let current = std::fs::read_to_string(dir.join(hls::sink::OWNER)).unwrap_or_default();
        if current.trim() != owner {
            return;
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a finished HLS directory");
            }
            _ => {}
        }
    });
}

/// What every connection task shares.
pub struct Shared {
    pub config: IngestConfig,
    pub session_limits: SessionLimits,
    pub api: ApiClient,
    pub reporter: Reporter,
    pub sessions: Arc<sessions::Sessions>,
    pub sinks: Arc<dyn SinkFactory>,
    pub metrics: Arc<IngestMetrics>,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Holds a connection slot, and the connection's place in its address's count once that address
/// is known; released on drop.
struct Slot {
    shared: Arc<Shared>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.shared.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = c.per_ip.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&ip);
            }
        }
    }
}

impl Counts {
    fn add_ip(&mut self, ip: IpAddr, limit: usize) -> Result<(), &'static str> {
        let n = self.per_ip.entry(ip).or_insert(0);
        if *n >= limit {
            return Err("max_connections_per_ip");
        }
        *n += 1;
        Ok(())
    }
}

impl Shared {
    /// A slot for a new connection from `ip`; `None` when the address is not known yet (a trusted
    /// balancer's connection, whose PROXY header names the client: [`Slot::claim`]).
    fn slot(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, &'static str> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.config.rtmp_max_connections {
            return Err("max_connections");
        }
        if let Some(ip) = ip {
            c.add_ip(ip, self.config.rtmp_max_connections_per_ip)?;
        }
        c.total += 1;
        Ok(Slot {
            shared: self.clone(),
            ip,
        })
    }
}

impl Slot {
    /// Counts the connection against `ip`'s limit, once its client is known.
    fn claim(&mut self, ip: IpAddr) -> Result<(), &'static str> {
        if self.ip.is_some() {
            return Ok(());
        }
        let mut c = self.shared.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.add_ip(ip, self.shared.config.rtmp_max_connections_per_ip)?;
        self.ip = Some(ip);
        Ok(())
    }
}

/// The bound listeners of an ingest node.
pub struct Ingest {
    pub shared: Arc<Shared>,
    node_id: String,
    node_secret: String,
    rtmp: TcpListener,
    rtmps: Option<(
        TcpListener,
        Arc<rustls::ServerConfig>,
        Arc<tls::ReloadingCert>,
    )>,
}

impl Ingest {
    /// Binds RTMP (and RTMPS when `with_tls`) with the given node identity and sink factory.
    pub async fn bind(
        config: IngestConfig,
        node_id: &str,
        node_secret: &str,
        sinks: Arc<dyn SinkFactory>,
        with_tls: bool,
    ) -> anyhow::Result<Ingest> {
        let api = ApiClient::new(
            &config.api_url,
            node_secret,
            node_id,
            Duration::from_millis(config.authorize_timeout_ms),
        )?;
        let reporter = Reporter::start(&config.api_url, node_secret, node_id, api.http());
        let rtmp = inlet_contract::process::bind(config.rtmp_listen, "INLET_RTMP_LISTEN").await?;
        let rtmps = if with_tls {
            let (cert, key) = tls::cert_files(
                config.tls_cert.as_deref(),
                config.tls_key.as_deref(),
                &config.tls_dev_dir,
            )?;
            let resolver = tls::ReloadingCert::open(cert, key)?;
            let server = tls::server_config(resolver.clone())?;
            Some((
                inlet_contract::process::bind(config.rtmps_listen, "INLET_RTMPS_LISTEN").await?,
                server,
                resolver,
            ))
        } else {
            None
        };
        let session_limits = SessionLimits {
            chunk: ChunkLimits {
                max_chunk_size: config.rtmp_max_chunk_size,
                max_message_size: config.rtmp_max_message,
                max_chunk_streams: config.rtmp_max_chunk_streams,
            },
            ..SessionLimits::default()
        };
        let metrics = Arc::new(IngestMetrics::default());
        let shared = Arc::new(Shared {
            config,
            session_limits,
            api,
            sessions: Arc::new(sessions::Sessions::new(reporter.clone(), metrics.clone())),
            reporter,
            sinks,
            metrics,
            counts: Mutex::new(Counts::default()),
        });
        Ok(Ingest {
            shared,
            rtmp,
            rtmps,
            node_id: node_id.to_string(),
            node_secret: node_secret.to_string(),
        })
    }

    pub fn rtmp_addr(&self) -> std::io::Result<SocketAddr> {
        self.rtmp.local_addr()
    }

    pub fn rtmps_addr(&self) -> Option<SocketAddr> {
        self.rtmps
            .as_ref()
            .and_then(|(l, _, _)| l.local_addr().ok())
    }

    /// Accepts connections until `shutdown` turns true, then tells live publishers and waits (up to
    /// 5 s) for their connections to close.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!(addr = %self.rtmp.local_addr()?, "RTMP listening");
        if !self.shared.config.proxy_protocol_from.is_empty() {
            tracing::info!(from = %self.shared.config.proxy_protocol_from,
                "PROXY protocol: connections from these addresses must start with a PROXY header");
        }
        let mut tasks = JoinSet::new();
        let shared = self.shared.clone();
        let (workers, finished) = Workers::start(shared.config.rtmp_workers)?;
        let workers = Arc::new(workers);
        tasks.spawn(heartbeat::run(
            shared.sessions.clone(),
            shared.api.http(),
            shared.config.api_url.clone(),
            self.node_secret.clone(),
            self.node_id.clone(),
            inlet_contract::session::NodeEndpoints {
                rtmp: self.rtmp.local_addr().ok().map(|a| format!("rtmp://{a}")),
                rtmps: self
                    .rtmps
                    .as_ref()
                    .and_then(|(l, _, _)| l.local_addr().ok())
                    .map(|a| format!("rtmps://{a}")),
                hls: Some(shared.config.hls_public_url.clone()),
            },
            shutdown.clone(),
        ));
        tasks.spawn(accept_loop(
            self.rtmp,
            None,
            shared.clone(),
            workers.clone(),
            shutdown.clone(),
        ));
        if let Some((listener, config, resolver)) = self.rtmps {
            tracing::info!(addr = %listener.local_addr()?, "RTMPS listening");
            let watcher = resolver.watch();
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            tasks.spawn(accept_loop(
                listener,
                Some(acceptor),
                shared.clone(),
                workers.clone(),
                shutdown.clone(),
            ));
            let mut s = shutdown.clone();
            tasks.spawn(async move {
                let _ = s.wait_for(|v| *v).await;
                watcher.abort();
            });
        }
        // The accept loops hold the only other handles: once they stop, the workers drain.
        drop(workers);
        while tasks.join_next().await.is_some() {}
        for done in finished {
            let _ = done.await;
        }
        // Sessions waiting for a reconnect end with the process.
        shared.sessions.end_parked("shutdown");
        // The connections reported their `ended`; let those reach the API before the process exits.
        if !shared.reporter.drained(Duration::from_secs(3)).await {
            tracing::warn!("some session events could not be delivered before shutdown");
        }
        Ok(())
    }
}

/// An accepted connection on its way to a worker.
struct Job {
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slot: Slot,
    shutdown: watch::Receiver<bool>,
}

/// The connection workers: threads with a current-thread runtime each (nginx's worker model). A
/// connection lives on one worker, so serving a read never wakes another thread; the accept loops
/// hand connections out in turn.
struct Workers {
    queues: Vec<tokio::sync::mpsc::UnboundedSender<Job>>,
    next: std::sync::atomic::AtomicUsize,
}

/// Live connections get this long to say goodbye at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

impl Workers {
    /// Starts `n` workers (`0`: one per two CPUs, at least one); the receivers resolve when each
    /// has drained.
    fn start(n: usize) -> anyhow::Result<(Workers, Vec<tokio::sync::oneshot::Receiver<()>>)> {
        let n = match n {
            // The other half of the CPUs is left to the main runtime (API, HLS origin, reports) and
            // PostgreSQL; on 2 CPUs one worker measured 0.25 CPU-s/Gbit against 0.41 for two
            // (docs/performance.md).
            0 => std::thread::available_parallelism().map_or(1, |p| (p.get() / 2).max(1)),
            n => n,
        };
        let mut queues = Vec::with_capacity(n);
        let mut finished = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("inlet-rtmp-{i}"))
                .spawn(move || {
                    runtime.block_on(worker(rx));
                    let _ = done_tx.send(());
                })?;
            queues.push(tx);
            finished.push(done_rx);
        }
        Ok((
            Workers {
                queues,
                next: std::sync::atomic::AtomicUsize::new(0),
            },
            finished,
        ))
    }

    fn hand_out(&self, job: Job) {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.queues.len();
        // A worker outlives the accept loops; a closed queue means the process is going down.
        let _ = self.queues[i].send(job);
    }
}

/// One worker: serves the connections it is handed until the accept loops stop, then gives the
/// live ones `DRAIN` to close.
async fn worker(mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>) {
    let mut conns = JoinSet::new();
    while let Some(job) = jobs.recv().await {
        let Job {
            tcp,
            peer,
            tls,
            slot,
            shutdown,
        } = job;
        match TcpStream::from_std(tcp) {
            Ok(tcp) => {
                conns.spawn(handle(tcp, peer, tls, slot, shutdown));
            }
            Err(e) => {
                tracing::warn!(client = %peer, error = %e, "cannot serve an accepted connection")
            }
        }
        // Reap finished connection tasks so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        conns.abort_all();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    workers: Arc<Workers>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = peer.ip().to_canonical();
        // A trusted balancer's connection counts against its client's address, which its PROXY
        // header names (read on the worker).
        let trusted = shared.config.proxy_protocol_from.trusts(ip);
        let slot = match shared.slot((!trusted).then_some(ip)) {
            Ok(s) => s,
            Err(reason) => {
                shared.metrics.refused(reason);
                tracing::warn!(client = %peer, reason, "connection refused");
                continue;
            }
        };
        shared.metrics.connections.inc();
        let _ = tcp.set_nodelay(true);
        match tcp.into_std() {
            Ok(tcp) => workers.hand_out(Job {
                tcp,
                peer,
                tls: tls.clone(),
                slot,
                shutdown: shutdown.clone(),
            }),
            Err(e) => {
                tracing::warn!(client = %peer, error = %e, "cannot hand a connection to a worker")
            }
        }
    }
}

/// Serves one accepted connection: its PROXY header (from a trusted balancer), the TLS handshake
/// (RTMPS), then RTMP.
async fn handle(
    mut tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut slot: Slot,
    shutdown: watch::Receiver<bool>,
) {
    let shared = slot.shared.clone();
    let is_tls = tls.is_some();
    let accepted = std::time::Instant::now();
    // The PROXY header and the TLS handshake share the handshake time; the RTMP handshake gets it
    // from the accept on RTMP, and again once TLS is up on RTMPS.
    let deadline = tokio::time::Instant::from_std(
        accepted + Duration::from_secs(shared.config.rtmp_handshake_timeout_secs),
    );
    // Closes before RTMP starts: no PROXY header where one is due, one where none may be, a timeout.
    let refuse = |reason: &'static str, detail: &str| {
        shared.metrics.closed(reason);
        if reason == "peer_closed" {
            tracing::info!(client = %peer, tls = is_tls, reason, detail, "RTMP connection closed");
        } else {
            tracing::warn!(client = %peer, tls = is_tls, reason, detail, "RTMP connection closed");
        }
    };
    let direct = connection::Peer {
        client: peer,
        via: None,
    };
    // Only a trusted balancer's connection has no address in its slot yet.
    let trusted = slot.ip.is_none();
    let (who, rest) = if trusted {
        let (header, rest) = match proxy::read_header(&mut tcp, deadline).await {
            Ok(x) => x,
            Err(r) => return refuse(r.reason, &r.detail),
        };
        // `PROXY UNKNOWN` and v2 `LOCAL` (health checks) keep the balancer's address.
        let who = match header.client {
            Some(client) => connection::Peer {
                client,
                via: Some(peer),
            },
            None => direct,
        };
        if let Err(reason) = slot.claim(who.client.ip().to_canonical()) {
            shared.metrics.refused(reason);
            tracing::warn!(client = %who.client, via = %peer, reason, "connection refused");
            return;
        }
        tracing::debug!(client = %who.client, via = %peer, version = header.version, "PROXY header");
        if header.client.is_none() && rest.is_empty() {
            // A balancer's health check connects, sends `LOCAL` or `UNKNOWN` and closes (HAProxy
            // with a reset): not a network error.
            let mut first = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await
            {
                return refuse(
                    "peer_closed",
                    "closed after a PROXY header without a client (a health check)",
                );
            }
        }
        (who, rest)
    } else {
        match proxy::starts_with_header(&tcp, deadline).await {
            Ok(false) => {}
            Ok(true) => {
                return refuse(
                    "proxy_header_untrusted",
                    "a PROXY header from an address outside INLET_PROXY_PROTOCOL_FROM",
                );
            }
            Err(r) => return refuse(r.reason, &r.detail),
        }
        (direct, Vec::new())
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
    let stream = proxy::Prefixed::new(rest, tcp);
    match tls {
        None => connection::serve(stream, Some(fd), who, accepted, false, shared, shutdown).await,
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                let started = std::time::Instant::now();
                connection::serve(stream, Some(fd), who, started, true, shared, shutdown).await
            }
            Ok(Err(e)) => {
                let (reason, hint) = tls::classify_failure(&e);
                shared.metrics.closed(reason);
                tracing::warn!(client = %who.client, via = who.via.map(tracing::field::display), error = %e, reason, "TLS handshake failed: {hint}");
            }
            Err(_) => {
                shared.metrics.closed("handshake_timeout");
                tracing::warn!(client = %who.client, via = who.via.map(tracing::field::display), "TLS handshake timed out");
            }
        },
    }
}
