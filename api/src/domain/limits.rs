//! Stream limits (SPEC §4): the values the ingest polices. Tenants hold defaults; a stream starts from
//! its tenant's defaults and may override any field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::Errors;

/// Video codecs the ingest can recognise (FLV and Enhanced RTMP FourCCs).
pub const VIDEO_CODECS: &[&str] = &["h264", "hevc", "av1"];
/// Audio codecs the ingest can recognise.
pub const AUDIO_CODECS: &[&str] = &["aac", "mp3", "opus"];

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
    /// Maximum time between keyframes, ms.
    pub max_keyframe_interval_ms: u32,
    pub video_codecs: Vec<String>,
    pub audio_codecs: Vec<String>,
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: u32,
    pub on_violation: OnViolation,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bitrate_kbps: 12_000,
            max_keyframe_interval_ms: 4_000,
            video_codecs: vec!["h264".into()],
            audio_codecs: vec!["aac".into()],
            max_width: 3840,
            max_height: 2160,
            max_fps: 60,
            on_violation: OnViolation::Reject,
        }
    }
}

/// A partial update of limits; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    pub max_bitrate_kbps: Option<u32>,
    pub max_keyframe_interval_ms: Option<u32>,
    pub video_codecs: Option<Vec<String>>,
    pub audio_codecs: Option<Vec<String>>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub max_fps: Option<u32>,
    pub on_violation: Option<OnViolation>,
}

impl Limits {
    /// Applies a patch, validating each present field under `limits.<name>`.
    pub fn apply(&mut self, patch: &LimitsPatch, errors: &mut Errors) {
        let mut num = |field: &str, value: Option<u32>, max: u32, target: &mut u32| {
            if let Some(v) = value {
                if v == 0 || v > max {
                    errors.add(
                        format!("limits.{field}"),
                        format!("must be between 1 and {max}"),
                    );
                } else {
                    *target = v;
                }
            }
        };
        num(
            "max_bitrate_kbps",
            patch.max_bitrate_kbps,
            1_000_000,
            &mut self.max_bitrate_kbps,
        );
        num(
            "max_keyframe_interval_ms",
            patch.max_keyframe_interval_ms,
            600_000,
            &mut self.max_keyframe_interval_ms,
        );
        num("max_width", patch.max_width, 16_384, &mut self.max_width);
        num("max_height", patch.max_height, 16_384, &mut self.max_height);
        num("max_fps", patch.max_fps, 1_000, &mut self.max_fps);
        codecs(
            errors,
            "video_codecs",
            &patch.video_codecs,
            VIDEO_CODECS,
            &mut self.video_codecs,
        );
        codecs(
            errors,
            "audio_codecs",
            &patch.audio_codecs,
            AUDIO_CODECS,
            &mut self.audio_codecs,
        );
        if let Some(v) = patch.on_violation {
            self.on_violation = v;
        }
    }
}

fn codecs(
    errors: &mut Errors,
    field: &str,
    value: &Option<Vec<String>>,
    known: &[&str],
    target: &mut Vec<String>,
) {
    let Some(list) = value else { return };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let c = c.trim().to_ascii_lowercase();
        if !known.contains(&c.as_str()) {
            errors.add(
                format!("limits.{field}[{i}]"),
                format!("unknown codec; one of {}", known.join(", ")),
            );
        } else if !out.contains(&c) {
            out.push(c);
        }
    }
    if list.is_empty() {
        errors.add(format!("limits.{field}"), "must name at least one codec");
    }
    *target = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_applies_valid_fields_and_names_bad_ones() {
        let mut l = Limits::default();
        let mut e = Errors::default();
        let patch = LimitsPatch {
            max_bitrate_kbps: Some(6000),
            max_fps: Some(0),
            video_codecs: Some(vec!["H264".into(), "vp9".into()]),
            ..Default::default()
        };
        l.apply(&patch, &mut e);
        assert_eq!(l.max_bitrate_kbps, 6000);
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["limits.max_fps", "limits.video_codecs[1]"]);
    }
}
