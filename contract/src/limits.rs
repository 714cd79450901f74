//! Stream limits (docs/troubleshooting.md): the values the API stores and the ingest polices.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happens when a feed breaks a limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnViolation {
    /// Close the session with `limits_violation`.
    Reject,
    /// Keep the session, record a warning and fire a webhook.
    Flag,
}

/// The limits of a stream.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Limits {
    /// Maximum bitrate over a sliding 5 s window, kbit/s.
    pub max_bitrate_kbps: u32,
    /// Maximum time between keyframes, ms (default 10 s): above it `on_violation` applies.
    pub max_keyframe_interval_ms: u32,
    /// Keyframe interval above which the session is flagged with a warning and the fix, but never
    /// cut, ms (default 4 s). Stock OBS (Simple output mode) sends a keyframe every 250 frames
    /// (8.3 s at 30 fps), so it is let in and told how to set a 2 s interval (docs/decisions.md).
    #[serde(default = "default_warn_keyframe_interval_ms")]
    pub warn_keyframe_interval_ms: u32,
    pub video_codecs: Vec<String>,
    pub audio_codecs: Vec<String>,
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: u32,
    pub on_violation: OnViolation,
}

fn default_warn_keyframe_interval_ms() -> u32 {
    4_000
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bitrate_kbps: 12_000,
            max_keyframe_interval_ms: 10_000,
            warn_keyframe_interval_ms: default_warn_keyframe_interval_ms(),
            video_codecs: vec!["h264".into()],
            audio_codecs: vec!["aac".into()],
            max_width: 3840,
            max_height: 2160,
            max_fps: 60,
            on_violation: OnViolation::Reject,
        }
    }
}
