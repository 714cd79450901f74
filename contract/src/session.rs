//! Session events (docs/api.md, "Internal API"): what the ingest reports about a publish session,
//! in order, retried until the API has them. The API applies each idempotently, so a retried batch
//! changes nothing twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Path of the session-events call, under the API's base URL.
pub const SESSION_EVENTS_PATH: &str = "/internal/v1/sessions/events";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEventKind {
    /// The publish was accepted and media may flow. `resumed`: a publisher came back within the
    /// stream's reconnect window and continues this session (same session id and playback URL).
    Connected {
        #[serde(default)]
        resumed: bool,
    },
    /// The first audio or video frame of this connection arrived.
    FirstFrame,
    /// The first segment and playlist are on disk; viewers can play `hls_url`.
    HlsReady { hls_url: String },
    /// Measured figures of the feed, every few seconds while live.
    Health(Health),
    /// The feed broke one of the stream's limits.
    LimitsViolation(Violation),
    /// The publisher's connection ended (`reason` as for `ended`), but the session waits
    /// `reconnect_window_seconds` for it to come back before it ends.
    Disconnected { reason: String },
    /// The session is over, with why (`publisher_left`, `network_error`, `limits_violation`,
    /// `max_duration`, `shutdown`, `kicked:<reason>`, `reconnect_window_elapsed`, ...).
    Ended { reason: String },
}

/// Figures measured by the ingest over its sliding window (default 5 s).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Health {
    /// Audio + video bitrate over the window, kbit/s (from the media timestamps).
    pub bitrate_kbps: u32,
    /// Video frames per second over the window.
    pub fps: f64,
    /// The last interval between two keyframes, ms.
    pub keyframe_interval_ms: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// `h264`, `hevc`, `av1`, ... as in `limits.video_codecs`.
    pub video_codec: Option<String>,
    /// `aac`, `mp3`, `opus`, ... as in `limits.audio_codecs`.
    pub audio_codec: Option<String>,
    /// Media bytes received in this session (all its connections).
    pub bytes: u64,
    /// How far the media clock ran ahead of (positive) or behind (negative) the wall clock since
    /// the connection's first frame, ms: an encoder that cannot keep up drifts negative.
    pub skew_ms: i64,
}

/// What happens to a session that broke a limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ViolationAction {
    /// The session was closed (`on_violation: reject`).
    Rejected,
    /// The session continues with a warning (`on_violation: flag`).
    Flagged,
}

/// A broken limit: which one, the configured and the measured value, and the sentence the encoder
/// was told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// `max_bitrate_kbps`, `max_keyframe_interval_ms`, `max_width`, `max_height`, `max_fps`,
    /// `video_codecs`, `audio_codecs`.
    pub limit: String,
    /// The configured value, as text (`720`, `4000`, `h264`).
    pub configured: String,
    /// The measured value, as text (`1080`, `10000`, `hevc`).
    pub measured: String,
    /// e.g. "keyframe interval 10.0 s exceeds the limit of 4.0 s".
    pub description: String,
    pub action: ViolationAction,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionEvent {
    pub session_id: Uuid,
    pub stream_id: Uuid,
    pub tenant_id: Uuid,
    pub node_id: String,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: SessionEventKind,
}

/// The body of `POST /internal/v1/sessions/events`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionEvents {
    pub events: Vec<SessionEvent>,
}

/// Path of the node heartbeat, under the API's base URL.
pub const HEARTBEAT_PATH: &str = "/internal/v1/nodes/heartbeat";

/// A session live on the node, as the heartbeat lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LiveSession {
    pub session_id: Uuid,
    pub stream_id: Uuid,
    pub tenant_id: Uuid,
    pub key_id: Option<String>,
    /// The publisher is gone and the session waits for it within its reconnect window.
    #[serde(default)]
    pub reconnecting: bool,
}

/// `POST /internal/v1/nodes/heartbeat`: the node is alive and these sessions are live on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub node_id: String,
    pub version: String,
    pub sessions: Vec<LiveSession>,
    /// Where this node can be reached: its RTMP and RTMPS listeners and its HLS origin's public
    /// URL.
    #[serde(default)]
    pub endpoints: NodeEndpoints,
}

/// A node's addresses, as it reports them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct NodeEndpoints {
    pub rtmp: Option<String>,
    pub rtmps: Option<String>,
    pub hls: Option<String>,
}

/// A session the node must cut, with the reason for the encoder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Disconnect {
    pub session_id: Uuid,
    /// `key_revoked`, `key_rotated`, `stream_disabled`, `stream_deleted`, `takeover`,
    /// `tenant_suspended`.
    pub reason: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct HeartbeatAnswer {
    pub disconnect: Vec<Disconnect>,
}

/// Why a session (or one connection of it) ended: the values of `Ended.reason` and
/// `Disconnected.reason` that both services know. The wire carries the text (`as_str`), so that an
/// older API accepts a newer ingest's reason; a cut by the control plane arrives as
/// `kicked:<cut reason>`, and `EndReason::parse` reads it as the cut's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    PublisherLeft,
    NetworkError,
    IdleTimeout,
    WriteTimeout,
    LimitsViolation,
    MaxDuration,
    Shutdown,
    Takeover,
    NodeLost,
    NodeRestarted,
    ReconnectWindowElapsed,
    KeyRevoked,
    KeyRotated,
    StreamDisabled,
    StreamDeleted,
    TenantSuspended,
}

impl EndReason {
    pub const ALL: [EndReason; 16] = [
        EndReason::PublisherLeft,
        EndReason::NetworkError,
        EndReason::IdleTimeout,
        EndReason::WriteTimeout,
        EndReason::LimitsViolation,
        EndReason::MaxDuration,
        EndReason::Shutdown,
        EndReason::Takeover,
        EndReason::NodeLost,
        EndReason::NodeRestarted,
        EndReason::ReconnectWindowElapsed,
        EndReason::KeyRevoked,
        EndReason::KeyRotated,
        EndReason::StreamDisabled,
        EndReason::StreamDeleted,
        EndReason::TenantSuspended,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::PublisherLeft => "publisher_left",
            EndReason::NetworkError => "network_error",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::WriteTimeout => "write_timeout",
            EndReason::LimitsViolation => "limits_violation",
            EndReason::MaxDuration => "max_duration",
            EndReason::Shutdown => "shutdown",
            EndReason::Takeover => "takeover",
            EndReason::NodeLost => "node_lost",
            EndReason::NodeRestarted => "node_restarted",
            EndReason::ReconnectWindowElapsed => "reconnect_window_elapsed",
            EndReason::KeyRevoked => "key_revoked",
            EndReason::KeyRotated => "key_rotated",
            EndReason::StreamDisabled => "stream_disabled",
            EndReason::StreamDeleted => "stream_deleted",
            EndReason::TenantSuspended => "tenant_suspended",
        }
    }

    /// The known reason a wire text names (`kicked:<reason>` names `<reason>`); `None` otherwise.
    pub fn parse(text: &str) -> Option<EndReason> {
        let text = text.strip_prefix("kicked:").unwrap_or(text);
        EndReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
