//! One RTMP connection: drives a `Session` from a byte stream (TCP or TLS), enforces the handshake,
//! publish and idle timeouts, asks the API before accepting a publish, hands frames to a sink, and
//! closes with a logged reason on any protocol error — touching nothing but its own connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_contract::limits::OnViolation;
use inlet_contract::publish::{AuthorizeResponse, ReasonCode};
use inlet_contract::session::{SessionEventKind, Violation, ViolationAction};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::authorizer::PublishRequest;
use super::sessions::{Attached, Cut};
use super::{Shared, SinkContext};
use crate::media::{Codec, FrameKind, MediaFrame};
use crate::policy::{Breach, Policy};
use crate::rtmp::{Event, Session};

/// Read buffer per connection.
const READ_BUF: usize = 64 * 1024;

/// Why a connection ended (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub reason: &'static str,
    pub detail: String,
}

pub(crate) fn closed(reason: &'static str, detail: impl Into<String>) -> Closed {
    Closed {
        reason,
        detail: detail.into(),
    }
}

/// The onStatus code an encoder sees for a refusal.
fn status_code(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::PlayNotSupported => "NetStream.Play.Failed",
        _ => "NetStream.Publish.BadName",
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client: the socket's peer, or the address a trusted balancer's PROXY header named. It is
    /// what the API sees as `client_ip` and what logs call `client`.
    pub client: SocketAddr,
    /// The balancer the connection came through (PROXY protocol); logged as `via`.
    pub via: Option<SocketAddr>,
}

struct Conn<S> {
    stream: S,
    /// The TCP socket underneath (for TCP_QUICKACK while the publish is being set up).
    fd: Option<std::os::fd::RawFd>,
    session: Session,
    peer: Peer,
    tls: bool,
    shared: Arc<Shared>,
    started: Instant,
    /// When data last arrived (the idle deadline counts from it).
    last_read: Instant,
    app: String,
    query: Option<String>,
    /// The accepted session this connection feeds.
    attached: Option<Attached>,
    /// Cuts the API asks for (via the heartbeat), once live.
    cuts: Option<tokio::sync::mpsc::UnboundedReceiver<Cut>>,
    /// The stream's limits, measured on this connection's feed.
    policy: Option<Policy>,
    live: bool,
    /// When the publish was accepted.
    accepted_at: Option<Instant>,
    /// Wall clock and media time of the first audio/video frame.
    first_frame: Option<(Instant, u64)>,
    next_health: Option<Instant>,
    /// `max_continuous_duration_seconds` ends the session at this time.
    ends_at: Option<Instant>,
    /// When the publisher ended its publish; the connection lingers briefly for its last commands.
    unpublished: Option<Instant>,
}

/// How long a connection may stay after the publisher ended its publish (clients send FCUnpublish,
/// then deleteStream, then close; closing first makes some of them report an error).
const LINGER: Duration = Duration::from_secs(5);
/// How long one write to the client may take; a client that stops reading is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the final flush and close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a publisher told about a shutdown may keep writing before the socket closes.
const SHUTDOWN_LINGER: Duration = Duration::from_secs(2);

/// Serves RTMP on `stream` until the connection ends; the handshake and publish deadlines count
/// from `started`.
pub async fn serve<S>(
    stream: S,
    fd: Option<std::os::fd::RawFd>,
    peer: Peer,
    started: Instant,
    tls: bool,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Conn {
        session: Session::new(shared.session_limits),
        stream,
        fd,
        peer,
        tls,
        shared: shared.clone(),
        started,
        last_read: Instant::now(),
        app: String::new(),
        query: None,
        attached: None,
        cuts: None,
        policy: None,
        live: false,
        accepted_at: None,
        first_frame: None,
        next_health: None,
        ends_at: None,
        unpublished: None,
    };
    let outcome = conn.run(&mut shutdown).await;
    // Whatever the session has left to say (a refusal, a final status) goes out before closing, but
    // a client that does not read cannot hold the connection open.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let _ = conn.flush().await;
        let _ = conn.stream.shutdown().await;
    })
    .await;
    conn.end_media(outcome.reason);
    shared.metrics.closed(outcome.reason);
    let level_warn = !matches!(
        outcome.reason,
        "publisher_left" | "refused" | "play_refused" | "shutdown" | "peer_closed"
    );
    if level_warn {
        tracing::warn!(client = %peer.client, via = peer.via.map(tracing::field::display), tls,
            reason = outcome.reason, detail = %outcome.detail, "RTMP connection closed");
    } else {
        tracing::info!(client = %peer.client, via = peer.via.map(tracing::field::display), tls,
            reason = outcome.reason, detail = %outcome.detail, "RTMP connection closed");
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends what the session has to say, within `WRITE_TIMEOUT`.
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.session.has_output() {
            let out = self.session.take_output();
            let write = async {
                self.stream.write_all(&out).await?;
                self.stream.flush().await
            };
            tokio::time::timeout(WRITE_TIMEOUT, write)
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading")
                })??;
        }
        Ok(())
    }

    /// Tells a live publisher why its session ends, then keeps reading (and discarding) briefly:
    /// encoders read the status between writes, and their next write must not fail before they see it.
    async fn goodbye(&mut self, code: &str, description: &str, buf: &mut [u8]) {
        self.session.end_publish(code, description);
        self.linger(buf).await;
    }

    /// Sends what is pending, then reads and discards until the client closes (at most
    /// `SHUTDOWN_LINGER`), so a client that writes before it reads sees our last words.
    async fn linger(&mut self, buf: &mut [u8]) {
        if self.flush().await.is_ok() {
            let drain = async { while matches!(self.stream.read(buf).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(SHUTDOWN_LINGER, drain).await;
        }
    }

    /// Ends this connection's part of the session (live gauge, sink, reports), once. A publisher
    /// that dropped parks the session for its reconnect window; a cut, a broken limit, the
    /// duration limit or a shutdown end it.
    fn end_media(&mut self, reason: &str) {
        self.end_media_with(reason, true)
    }

    /// `end_media`, where `may_park: false` ends the session even for a reason that would park it:
    /// a publisher that sent `FCUnpublish`/`deleteStream` stopped on purpose, so the stream goes
    /// idle at once instead of waiting out the reconnect window (docs/decisions.md, "A deliberate
    /// stop is not a drop").
    fn end_media_with(&mut self, reason: &str, may_park: bool) {
        if self.live {
            // The last figures of this connection, so even a short publish has them.
            self.report_health();
            self.live = false;
            self.shared.metrics.live_sessions.dec();
        }
        if let Some(a) = self.attached.take() {
            let park = may_park && reconnectable(reason) && a.allow.reconnect_window_seconds > 0;
            self.shared.sessions.detach(&a, reason, park);
        }
    }

    /// The deadline for the next read: handshake, then publish, then idle.
    fn read_deadline(&self) -> Instant {
        let cfg = &self.shared.config;
        if let Some(at) = self.unpublished {
            at + LINGER
        } else if !self.session.handshake_done() {
            self.started + Duration::from_secs(cfg.rtmp_handshake_timeout_secs)
        } else if !self.live {
            self.started + Duration::from_secs(cfg.rtmp_publish_timeout_secs)
        } else {
            self.last_read + Duration::from_secs(cfg.rtmp_idle_timeout_secs)
        }
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Closed {
        // Scratch for reads while saying goodbye; media is read straight into the session's buffer.
        let mut scratch = vec![0u8; 16 * 1024];
        // One timer for the read deadline and one for health/duration for the whole connection,
        // moved only when needed (a new timer per read costs more than the read's own work).
        let read_timer = tokio::time::sleep_until(self.read_deadline().into());
        tokio::pin!(read_timer);
        let session_timer = tokio::time::sleep_until(self.started.into());
        tokio::pin!(session_timer);
        // The watch guard must not live into a branch body, which awaits.
        let stopping = async {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::pin!(stopping);
        loop {
            let deadline = tokio::time::Instant::from_std(self.read_deadline());
            if deadline < read_timer.deadline() {
                read_timer.as_mut().reset(deadline);
            }
            let timer = self.next_timer().map(tokio::time::Instant::from_std);
            if let Some(at) = timer
                && at != session_timer.deadline()
            {
                session_timer.as_mut().reset(at);
            }
            let n = tokio::select! {
                r = self.stream.read_buf(self.session.read_buf(READ_BUF)) => match r {
                    Err(e) => return closed("network_error", e.to_string()),
                    Ok(0) => {
                        let reason = if self.live || self.unpublished.is_some() { "publisher_left" } else { "peer_closed" };
                        return closed(reason, "connection closed by the client");
                    }
                    Ok(n) => n,
                },
                () = &mut read_timer => {
                    let due = self.read_deadline();
                    if Instant::now() < due {
                        // Data arrived since the timer was set: the deadline moved on.
                        read_timer.as_mut().reset(due.into());
                        continue;
                    }
                    let what = if self.unpublished.is_some() {
                        "publisher_left"
                    } else if !self.session.handshake_done() {
                        "handshake_timeout"
                    } else if !self.live {
                        "publish_timeout"
                    } else {
                        "idle_timeout"
                    };
                    return closed(what, "no data in time");
                }
                () = &mut stopping => {
                    self.goodbye("NetStream.Publish.Unpublish", "The ingest server is shutting down; reconnect to continue.", &mut scratch).await;
                    return closed("shutdown", "server shutting down");
                }
                cut = next_cut(&mut self.cuts) => {
                    self.goodbye("NetStream.Publish.BadName", &cut.description, &mut scratch).await;
                    self.end_media(&cut.reason);
                    return closed("kicked", cut.reason);
                }
                () = &mut session_timer, if self.live && timer.is_some() => {
                    if let Some(end) = self.on_timer(&mut scratch).await {
                        return end;
                    }
                    continue;
                }
            };
            self.last_read = Instant::now();
            if self.live {
                self.shared.metrics.ingested_bytes.inc_by(n as u64);
            } else if let Some(fd) = self.fd {
                // Encoders that leave Nagle on (ffmpeg) wait for our ACK before their next command;
                // a delayed ACK would add ~40 ms to each step of the set-up. Linux clears the flag
                // again by itself, so it is set after every read until the publish is live.
                quickack(fd);
            }
            if let Err(e) = self.session.filled(n) {
                return closed(e.code(), e.to_string());
            }
            while let Some(ev) = self.session.poll_event() {
                if let Some(end) = self.on_event(ev).await {
                    return end;
                }
            }
            if let Err(e) = self.flush().await {
                let reason = if e.kind() == std::io::ErrorKind::TimedOut {
                    "write_timeout"
                } else {
                    "network_error"
                };
                return closed(reason, e.to_string());
            }
        }
    }

    async fn on_event(&mut self, ev: Event) -> Option<Closed> {
        match ev {
            Event::HandshakeDone => None,
            Event::Connect { app, query, .. } => {
                self.app = app;
                self.query = query;
                None
            }
            Event::Frame(f) => {
                if let Some(end) = self.police(&f).await {
                    return Some(end);
                }
                // HLS here carries H.264: another video codec is refused cleanly at its first header
                // rather than packaged as a playlist without video.
                if self.shared.config.hls_enabled
                    && f.kind == FrameKind::Video
                    && f.is_config
                    && f.codec != Codec::H264
                {
                    let name = f.codec.name();
                    let description = format!(
                        "Video codec {name} cannot be packaged for HLS; publish H.264 (in OBS: Settings → Output → Video Encoder: x264 or another H.264 encoder)."
                    );
                    let mut scratch = vec![0u8; 16 * 1024];
                    self.goodbye("NetStream.Publish.BadName", &description, &mut scratch)
                        .await;
                    self.end_media("limits_violation");
                    return Some(closed("limits_violation", format!("video codec {name}")));
                }
                self.feed(f);
                None
            }
            Event::Unpublish => {
                self.end_media_with("publisher_left", false);
                self.unpublished = Some(Instant::now());
                None
            }
            Event::Play { stream_id, name } => {
                let hls = &self.shared.config.hls_public_url;
                let description = format!(
                    "This is an ingest endpoint; playback is HLS ({hls}/hls/<playback id>/index.m3u8), not RTMP play."
                );
                self.session.reject_play(stream_id, &description);
                self.linger(&mut [0u8; 4096]).await;
                self.shared
                    .metrics
                    .attempt("refused", ReasonCode::PlayNotSupported.as_str());
                Some(closed(
                    "play_refused",
                    format!("play requested for {:?}", redact(&name)),
                ))
            }
            Event::Publish { name, .. } => self.on_publish(&name).await,
        }
    }

    async fn on_publish(&mut self, name: &str) -> Option<Closed> {
        // Everything said so far (createStream's answer) goes out before the API round trip.
        if let Err(e) = self.flush().await {
            return Some(closed("network_error", e.to_string()));
        }
        let asked = Instant::now();
        let decision = self
            .shared
            .api
            .authorize(PublishRequest {
                app: &self.app,
                publish_name: name,
                connect_query: self.query.as_deref(),
                client_ip: self.peer.client.ip().to_canonical(),
                tls: self.tls,
            })
            .await;
        self.shared
            .metrics
            .authorize_latency
            .observe(asked.elapsed().as_secs_f64());
        match decision {
            AuthorizeResponse::Allow(allow) => {
                self.session
                    .accept_publish(&format!("Publishing stream {}.", allow.stream_id));
                if let Err(e) = self.flush().await {
                    return Some(closed("network_error", e.to_string()));
                }
                self.shared
                    .metrics
                    .accept_latency
                    .observe(self.started.elapsed().as_secs_f64());
                self.shared.metrics.attempt("accepted", "");
                self.shared.metrics.live_sessions.inc();
                self.live = true;
                tracing::info!(client = %self.peer.client, via = self.peer.via.map(tracing::field::display), tls = self.tls, stream = %allow.stream_id, session = %allow.session_id,
                    key_id = ?allow.key_id, "publish accepted");
                self.shared.reporter.report(
                    &allow,
                    SessionEventKind::Connected {
                        resumed: allow.resumed,
                    },
                );
                let now = Instant::now();
                self.accepted_at = Some(now);
                self.next_health =
                    Some(now + Duration::from_secs(self.shared.config.health_interval_secs.max(1)));
                self.ends_at = duration_deadline(&allow, now);
                self.policy = Some(Policy::new(allow.limits.clone()));
                let (sinks, ctx) = (
                    self.shared.sinks.clone(),
                    SinkContext {
                        reporter: &self.shared.reporter,
                        metrics: &self.shared.metrics,
                    },
                );
                let (attached, cuts) = self
                    .shared
                    .sessions
                    .attach(&allow, || sinks.open(&allow, &ctx));
                if attached.continued {
                    tracing::info!(session = %allow.session_id, "publisher reconnected; the session continues");
                }
                self.attached = Some(attached);
                self.cuts = Some(cuts);
                None
            }
            AuthorizeResponse::Deny(deny) => {
                self.session
                    .reject_publish(status_code(deny.reason_code), &deny.description);
                self.linger(&mut [0u8; 4096]).await;
                self.shared
                    .metrics
                    .attempt("refused", deny.reason_code.as_str());
                Some(closed(
                    "refused",
                    format!("{}: {}", deny.reason_code.as_str(), deny.description),
                ))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Hands a frame to the session's sink, unless a newer connection took the session over.
    fn feed(&mut self, f: MediaFrame) {
        let Some(a) = self.attached.as_ref() else {
            return;
        };
        if !a.current() {
            return;
        }
        if f.kind != FrameKind::Metadata && self.first_frame.is_none() {
            self.first_frame = Some((Instant::now(), u64::from(f.timestamp)));
            if let Some(at) = self.accepted_at {
                self.shared
                    .metrics
                    .time_to_first_frame
                    .observe(at.elapsed().as_secs_f64());
            }
            self.shared
                .reporter
                .report(&a.allow, SessionEventKind::FirstFrame);
        }
        a.add_bytes(f.data.len() as u64);
        a.sink.lock().unwrap_or_else(|p| p.into_inner()).frame(f);
    }

    /// Measures a frame against the stream's limits; a broken limit is reported, and with
    /// `on_violation: reject` the publisher is told which limit and the session ends.
    async fn police(&mut self, f: &MediaFrame) -> Option<Closed> {
        let policy = self.policy.as_mut()?;
        let breaches = policy.frame(f);
        if breaches.is_empty() {
            return None;
        }
        let reject = policy.limits().on_violation == OnViolation::Reject;
        let action = if reject {
            ViolationAction::Rejected
        } else {
            ViolationAction::Flagged
        };
        let Some(first) = breaches.iter().find(|b| !b.flag_only).cloned() else {
            for b in breaches {
                self.report_breach(b, ViolationAction::Flagged);
            }
            return None;
        };
        for b in breaches {
            let action = if b.flag_only {
                ViolationAction::Flagged
            } else {
                action
            };
            self.report_breach(b, action);
        }
        if !reject {
            return None;
        }
        let description = format!(
            "Stream limit exceeded: {}. {}",
            first.description,
            fix_hint(first.limit)
        );
        let mut scratch = vec![0u8; 16 * 1024];
        self.goodbye("NetStream.Publish.Rejected", &description, &mut scratch)
            .await;
        self.end_media("limits_violation");
        Some(closed("limits_violation", first.description))
    }

    fn report_breach(&self, b: Breach, action: ViolationAction) {
        let action_name = match action {
            ViolationAction::Rejected => "rejected",
            ViolationAction::Flagged => "flagged",
        };
        self.shared
            .metrics
            .limits_violations
            .get_or_create(&super::metrics::ViolationLabels {
                limit: b.limit.to_string(),
                action: action_name.to_string(),
            })
            .inc();
        if let Some(a) = self.attached.as_ref() {
            tracing::warn!(session = %a.allow.session_id, stream = %a.allow.stream_id, limit = b.limit,
                configured = %b.configured, measured = %b.measured, action = action_name, "stream limit exceeded");
            self.shared.reporter.report(
                &a.allow,
                SessionEventKind::LimitsViolation(Violation {
                    limit: b.limit.to_string(),
                    configured: b.configured,
                    measured: b.measured,
                    // A warning carries its fix: nothing else tells the operator what to change.
                    description: if b.flag_only {
                        format!("{}. {}", b.description, fix_hint(b.limit))
                    } else {
                        b.description
                    },
                    action,
                }),
            );
        }
    }

    /// The next health report or the duration limit, whichever comes first.
    fn next_timer(&self) -> Option<Instant> {
        [self.next_health, self.ends_at].into_iter().flatten().min()
    }

    async fn on_timer(&mut self, buf: &mut [u8]) -> Option<Closed> {
        let now = Instant::now();
        if self.ends_at.is_some_and(|at| at <= now) {
            let secs = self
                .attached
                .as_ref()
                .map(|a| a.allow.max_continuous_duration_seconds)
                .unwrap_or(0);
            let description = format!(
                "This session reached the stream's maximum continuous duration ({}); start a new publish to continue.",
                human_duration(secs)
            );
            self.goodbye("NetStream.Publish.Rejected", &description, buf)
                .await;
            self.end_media("max_duration");
            return Some(closed("max_duration", description));
        }
        if self.next_health.is_some_and(|at| at <= now) {
            let every = Duration::from_secs(self.shared.config.health_interval_secs.max(1));
            self.next_health = Some(now + every);
            self.report_health();
        }
        None
    }

    fn report_health(&self) {
        let (Some(policy), Some(a)) = (self.policy.as_ref(), self.attached.as_ref()) else {
            return;
        };
        if !a.current() {
            return;
        }
        let skew_ms = match (self.first_frame, policy.media_ms()) {
            (Some((wall, media0)), Some(media)) => {
                (media.saturating_sub(media0)) as i64 - wall.elapsed().as_millis() as i64
            }
            _ => 0,
        };
        let health = policy.health(a.bytes(), skew_ms);
        let m = &self.shared.metrics;
        m.session_bitrate.observe(f64::from(health.bitrate_kbps));
        if let Some(k) = health.keyframe_interval_ms {
            m.keyframe_interval.observe(f64::from(k) / 1000.0);
        }
        self.shared
            .reporter
            .report(&a.allow, SessionEventKind::Health(health));
    }
}

/// Whether a session whose connection ended this way waits for its publisher to come back.
fn reconnectable(reason: &str) -> bool {
    matches!(
        reason,
        "publisher_left" | "network_error" | "idle_timeout" | "write_timeout" | "peer_closed"
    )
}

/// When `max_continuous_duration_seconds` ends the session (counted from its first connection).
fn duration_deadline(allow: &inlet_contract::publish::Allow, now: Instant) -> Option<Instant> {
    let max = u64::from(allow.max_continuous_duration_seconds);
    if max == 0 {
        return None;
    }
    let ran = allow
        .session_started_at
        .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as u64)
        .unwrap_or(0);
    Some(now + Duration::from_millis((max * 1000).saturating_sub(ran)))
}

fn human_duration(secs: u32) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// What the encoder operator can change to stay within a limit.
fn fix_hint(limit: &str) -> &'static str {
    match limit {
        "max_bitrate_kbps" => {
            "Lower the encoder's bitrate (OBS: Settings → Output → Video Bitrate), or raise the stream's limits.max_bitrate_kbps."
        }
        "max_keyframe_interval_ms" | crate::policy::WARN_KEYFRAME => {
            "Set the keyframe interval to 2 s (OBS: Settings → Output → Output Mode: Advanced, then Streaming → Keyframe Interval 2 s; ffmpeg: -g at twice the frame rate)."
        }
        "max_width" | "max_height" => {
            "Lower the output resolution (OBS: Settings → Video → Output (Scaled) Resolution)."
        }
        "max_fps" => "Lower the frame rate (OBS: Settings → Video → Common FPS Values).",
        "video_codecs" => {
            "Publish H.264 (OBS: Settings → Output → Video Encoder: x264 or another H.264 encoder)."
        }
        "audio_codecs" => "Publish AAC audio (OBS: Settings → Output → Audio Encoder: AAC).",
        _ => "See the stream's limits in the dashboard.",
    }
}

/// Asks the kernel to acknowledge at once instead of delaying the ACK.
#[allow(unsafe_code)] // setsockopt(2): the one FFI call of the connection shell
fn quickack(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: `fd` is the live socket of this connection (the connection owns it for as long as this
    // runs), and the option value is a properly sized c_int on the stack.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The next cut for a live session; never resolves before one exists.
async fn next_cut(cuts: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Cut>>) -> Cut {
    match cuts {
        Some(rx) => match rx.recv().await {
            Some(cut) => cut,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// A publish or play name for logs: the key id part only, never a secret.
pub fn redact(name: &str) -> String {
    let base = name.split('?').next().unwrap_or("");
    match base.strip_prefix("sk_").and_then(|r| r.split_once('_')) {
        Some((id, _)) => format!("sk_{id}_…"),
        None if base.len() > 16 => format!(
            "{}…",
            &base[..base.char_indices().nth(8).map(|(i, _)| i).unwrap_or(0)]
        ),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_redacted_for_logs() {
        assert_eq!(
            super::redact("sk_AbCdEfGhIj_secretsecret?token=x"),
            "sk_AbCdEfGhIj_…"
        );
        assert_eq!(
            super::redact("eyJhbGciOiJFZERTQSJ9.payload.sig"),
            "eyJhbGci…"
        );
        assert_eq!(super::redact("short"), "short");
    }
}
