//! Session events (SPEC §5): what the ingest reports about a publish session, in order, retried until
//! the API has them. The API applies each idempotently, so a retried batch changes nothing twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Path of the session-events call, under the API's base URL.
pub const SESSION_EVENTS_PATH: &str = "/internal/v1/sessions/events";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEventKind {
    /// The publish was accepted and media may flow.
    Connected,
    /// The first segment and playlist are on disk; viewers can play `hls_url`.
    HlsReady { hls_url: String },
    /// The session is over, with why (`publisher_left`, `network_error`, `shutdown`, ...).
    Ended { reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
}

/// `POST /internal/v1/nodes/heartbeat`: the node is alive and these sessions are live on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub node_id: String,
    pub version: String,
    pub sessions: Vec<LiveSession>,
}

/// A session the node must cut, with the reason for the encoder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Disconnect {
    pub session_id: Uuid,
    /// `key_revoked`, `key_rotated`, `stream_disabled`, `stream_deleted`, `takeover`, `tenant_suspended`.
    pub reason: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct HeartbeatAnswer {
    pub disconnect: Vec<Disconnect>,
}
