//! Validation of stream limits (docs/troubleshooting.md; the type lives in the contract crate).
//! Tenants hold defaults; a stream starts from its tenant's defaults and may override any field.

use serde::Deserialize;
use utoipa::ToSchema;

use super::validate::Errors;

/// Video codecs the ingest can recognise (FLV and Enhanced RTMP FourCCs).
pub const VIDEO_CODECS: &[&str] = &["h264", "hevc", "av1"];
/// Audio codecs the ingest can recognise.
pub const AUDIO_CODECS: &[&str] = &["aac", "mp3", "opus"];

pub use inlet_contract::limits::{Limits, OnViolation};

/// A partial update of limits; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    pub max_bitrate_kbps: Option<u32>,
    pub max_keyframe_interval_ms: Option<u32>,
    pub warn_keyframe_interval_ms: Option<u32>,
    pub video_codecs: Option<Vec<String>>,
    pub audio_codecs: Option<Vec<String>>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub max_fps: Option<u32>,
    pub on_violation: Option<OnViolation>,
}

/// Applies a limits patch.
pub trait ApplyPatch {
    fn apply(&mut self, patch: &LimitsPatch, errors: &mut Errors);
}

impl ApplyPatch for Limits {
    /// Applies a patch, validating each present field under `limits.<name>`.
    fn apply(&mut self, patch: &LimitsPatch, errors: &mut Errors) {
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
        num(
            "warn_keyframe_interval_ms",
            patch.warn_keyframe_interval_ms,
            600_000,
            &mut self.warn_keyframe_interval_ms,
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
