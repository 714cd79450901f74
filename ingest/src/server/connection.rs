//! One RTMP connection: drives a `Session` from a byte stream (TCP or TLS), enforces the handshake,
//! publish and idle timeouts, asks the API before accepting a publish, hands frames to a sink, and
//! closes with a logged reason on any protocol error — touching nothing but its own connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_contract::publish::{AuthorizeResponse, ReasonCode};
use inlet_contract::session::SessionEventKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::Shared;
use super::authorizer::PublishRequest;
use super::heartbeat::Cut;
use crate::media::{Codec, FrameKind, MediaSink};
use crate::rtmp::{Event, Session};

/// Read buffer per connection.
const READ_BUF: usize = 64 * 1024;

/// Why a connection ended (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub reason: &'static str,
    pub detail: String,
}

fn closed(reason: &'static str, detail: impl Into<String>) -> Closed {
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

struct Conn<S> {
    stream: S,
    /// The TCP socket underneath (for TCP_QUICKACK while the publish is being set up).
    fd: Option<std::os::fd::RawFd>,
    session: Session,
    peer: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    started: Instant,
    app: String,
    query: Option<String>,
    sink: Option<Box<dyn MediaSink>>,
    /// The accepted publish, for session reports.
    allow: Option<inlet_contract::publish::Allow>,
    /// Cuts the API asks for (via the heartbeat), once live.
    cuts: Option<tokio::sync::mpsc::UnboundedReceiver<Cut>>,
    live: bool,
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

pub async fn serve<S>(
    stream: S,
    fd: Option<std::os::fd::RawFd>,
    peer: SocketAddr,
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
        started: Instant::now(),
        app: String::new(),
        query: None,
        sink: None,
        allow: None,
        cuts: None,
        live: false,
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
        tracing::warn!(client = %peer, tls, reason = outcome.reason, detail = %outcome.detail, "RTMP connection closed");
    } else {
        tracing::info!(client = %peer, tls, reason = outcome.reason, detail = %outcome.detail, "RTMP connection closed");
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

    /// Ends the media side of the session (sink and live gauge), once.
    fn end_media(&mut self, reason: &str) {
        if self.live {
            self.live = false;
            self.shared.metrics.live_sessions.dec();
        }
        if let Some(mut sink) = self.sink.take() {
            sink.end(reason);
        }
        if let Some(allow) = self.allow.take() {
            self.shared.registry.deregister(allow.session_id);
            self.shared.reporter.report(
                &allow,
                SessionEventKind::Ended {
                    reason: reason.to_string(),
                },
            );
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
            Instant::now() + Duration::from_secs(cfg.rtmp_idle_timeout_secs)
        }
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Closed {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let deadline = tokio::time::Instant::from_std(self.read_deadline());
            let n = tokio::select! {
                r = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)) => match r {
                    Err(_) => {
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
                    Ok(Err(e)) => return closed("network_error", e.to_string()),
                    Ok(Ok(0)) => {
                        let reason = if self.live || self.unpublished.is_some() { "publisher_left" } else { "peer_closed" };
                        return closed(reason, "connection closed by the client");
                    }
                    Ok(Ok(n)) => n,
                },
                // The watch guard must not live into the branch body, which awaits.
                () = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    self.goodbye("NetStream.Publish.Unpublish", "The ingest server is shutting down; reconnect to continue.", &mut buf).await;
                    return closed("shutdown", "server shutting down");
                }
                cut = next_cut(&mut self.cuts) => {
                    self.goodbye("NetStream.Publish.BadName", &cut.description, &mut buf).await;
                    self.end_media(&cut.reason);
                    return closed("kicked", cut.reason);
                }
            };
            if self.live {
                self.shared.metrics.ingested_bytes.inc_by(n as u64);
            } else if let Some(fd) = self.fd {
                // Encoders that leave Nagle on (ffmpeg) wait for our ACK before their next command;
                // a delayed ACK would add ~40 ms to each step of the set-up. Linux clears the flag
                // again by itself, so it is set after every read until the publish is live.
                quickack(fd);
            }
            if let Err(e) = self.session.feed(&buf[..n]) {
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
                if let Some(sink) = self.sink.as_mut() {
                    sink.frame(f);
                }
                None
            }
            Event::Unpublish => {
                self.end_media("publisher_left");
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
                client_ip: self.peer.ip().to_canonical(),
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
                tracing::info!(client = %self.peer, tls = self.tls, stream = %allow.stream_id, session = %allow.session_id,
                    key_id = ?allow.key_id, "publish accepted");
                self.shared
                    .reporter
                    .report(&allow, SessionEventKind::Connected);
                self.sink = Some(self.shared.sinks.open(&allow, &self.shared.reporter));
                self.cuts = Some(self.shared.registry.register(&allow));
                self.allow = Some(allow);
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

/// Asks the kernel to acknowledge at once instead of delaying the ACK.
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
