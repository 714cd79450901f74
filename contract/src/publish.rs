//! Publish authorization (docs/api.md, "Internal API"): what the ingest sends on every publish and
//! what the API answers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::Limits;

/// Path of the authorize call, under the API's base URL.
pub const AUTHORIZE_PATH: &str = "/internal/v1/publish/authorize";

/// Machine-readable refusal reasons (docs/troubleshooting.md).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    UnknownApp,
    PlayNotSupported,
    InvalidKey,
    KeyRevoked,
    KeyExpired,
    TokenInvalid,
    TokenExpired,
    TokenReplayed,
    IpNotAllowed,
    StreamDisabled,
    AlreadyLive,
    TenantQuota,
    LimitsViolation,
    ControlPlaneUnavailable,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::UnknownApp => "unknown_app",
            ReasonCode::PlayNotSupported => "play_not_supported",
            ReasonCode::InvalidKey => "invalid_key",
            ReasonCode::KeyRevoked => "key_revoked",
            ReasonCode::KeyExpired => "key_expired",
            ReasonCode::TokenInvalid => "token_invalid",
            ReasonCode::TokenExpired => "token_expired",
            ReasonCode::TokenReplayed => "token_replayed",
            ReasonCode::IpNotAllowed => "ip_not_allowed",
            ReasonCode::StreamDisabled => "stream_disabled",
            ReasonCode::AlreadyLive => "already_live",
            ReasonCode::TenantQuota => "tenant_quota",
            ReasonCode::LimitsViolation => "limits_violation",
            ReasonCode::ControlPlaneUnavailable => "control_plane_unavailable",
        }
    }
}

/// `POST /internal/v1/publish/authorize` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The RTMP app the encoder connected to (`live` in `rtmp://host/live`).
    pub app: String,
    /// The publish name as sent, query included (`sk_…?token=…`).
    pub publish_name: String,
    /// The query string of the connect URL (`rtmp://host/live?token=…`), without `?`.
    #[serde(default)]
    pub connect_query: Option<String>,
    pub client_ip: IpAddr,
    pub tls: bool,
    pub node_id: String,
}

/// The API's decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AuthorizeResponse {
    Allow(Allow),
    Deny(Deny),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Allow {
    pub stream_id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub playback_id: String,
    /// The stream key used, when one was.
    pub key_id: Option<String>,
    pub limits: Limits,
    pub reconnect_window_seconds: u32,
    pub max_continuous_duration_seconds: u32,
    pub recording: bool,
    /// The publish continues a session whose publisher dropped within the reconnect window:
    /// `session_id` is that session's, and the HLS output continues after a discontinuity.
    #[serde(default)]
    pub resumed: bool,
    /// When the session started (its first connection), for `max_continuous_duration_seconds`.
    #[serde(default)]
    pub session_started_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deny {
    pub reason_code: ReasonCode,
    /// A sentence for the encoder's log (the `onStatus` description).
    pub description: String,
}
