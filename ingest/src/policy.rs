//! Stream limits, measured and policed (docs/troubleshooting.md), sans-IO: frames in, violations
//! and health figures out. It owns the measurements of one connection's feed — bitrate over a
//! sliding window of media time, frame rate, keyframe interval, resolution (from the SPS), codecs —
//! and the decision whether a figure breaks a limit. It knows no socket, clock or API: the
//! connection decides what a violation does (close or flag) and when health is reported.

use std::collections::{HashSet, VecDeque};

use inlet_contract::limits::Limits;
use inlet_contract::session::Health;

use crate::media::avc::AvcConfig;
use crate::media::{Codec, FrameKind, MediaFrame};

/// The sliding window bitrate and frame rate are measured over (media time).
pub const WINDOW_MS: u64 = 5_000;
/// Frame rate is judged only over at least this much video, so start-up bursts do not count.
const MIN_FPS_SPAN_MS: u64 = 2_000;
/// Measured frame rate may exceed `max_fps` by this factor (timestamp rounding: 30 fps in
/// milliseconds alternates 33 and 34 ms).
const FPS_TOLERANCE: f64 = 1.05;
/// The name of the keyframe warning threshold, which flags and never rejects.
pub const WARN_KEYFRAME: &str = "warn_keyframe_interval_ms";
/// A feed with no keyframe for this many times the limit is judged without waiting for one.
const KEYFRAME_STALL_FACTOR: u64 = 2;

/// A broken limit, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// The limit's field name (`max_height`, `max_bitrate_kbps`, ...).
    pub limit: &'static str,
    pub configured: String,
    pub measured: String,
    /// A sentence naming the limit, the configured and the measured value.
    pub description: String,
    /// A warning threshold (`warn_keyframe_interval_ms`): flagged whatever `on_violation` says.
    pub flag_only: bool,
}

/// The measurements of one feed and the limits they are held to.
pub struct Policy {
    limits: Limits,
    /// (media time, bytes) of audio and video frames within the window.
    window: VecDeque<(u64, usize)>,
    window_bytes: usize,
    /// Media times of video frames within the window.
    video_times: VecDeque<u64>,
    last_keyframe_ms: Option<u64>,
    keyframe_interval_ms: Option<u64>,
    size: Option<(u32, u32)>,
    video_codec: Option<Codec>,
    audio_codec: Option<Codec>,
    /// The codecs last checked against the allowed lists (checked again only when they change).
    video_checked: Option<Codec>,
    audio_checked: Option<Codec>,
    /// Media bytes of this connection.
    pub bytes: u64,
    /// Limits already reported, so each is reported once per connection.
    reported: HashSet<&'static str>,
    last_ms: Option<u64>,
    /// The frame rate `onMetaData` announces, to corroborate the measured one.
    announced_fps: Option<f64>,
}

/// `framerate` (or `videoframerate`) of an `["onMetaData", {...}]` body.
fn announced_fps(body: &[u8]) -> Option<f64> {
    let values = crate::rtmp::amf0::Decoder::new(body).all().ok()?;
    let props = values.get(1)?;
    props
        .get("framerate")
        .or_else(|| props.get("videoframerate"))
        .and_then(|v| v.as_f64())
        .filter(|f| f.is_finite() && *f > 0.0)
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Policy {
    pub fn new(limits: Limits) -> Policy {
        Policy {
            limits,
            window: VecDeque::new(),
            window_bytes: 0,
            video_times: VecDeque::new(),
            last_keyframe_ms: None,
            keyframe_interval_ms: None,
            size: None,
            video_codec: None,
            audio_codec: None,
            video_checked: None,
            audio_checked: None,
            bytes: 0,
            reported: HashSet::new(),
            last_ms: None,
            announced_fps: None,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Measures a frame; returns the limits it newly breaks (each limit once per connection).
    pub fn frame(&mut self, f: &MediaFrame) -> Vec<Breach> {
        let mut found = Vec::new();
        if f.kind == FrameKind::Metadata {
            self.announced_fps = announced_fps(&f.data).or(self.announced_fps);
            return found;
        }
        let ms = u64::from(f.timestamp);
        // A timestamp that runs backwards (a restarted encoder clock) restarts the measurement.
        if self.last_ms.is_some_and(|last| ms + 1_000 < last) {
            self.window.clear();
            self.window_bytes = 0;
            self.video_times.clear();
            self.last_keyframe_ms = None;
            self.last_ms = None;
        }
        self.last_ms = Some(self.last_ms.map_or(ms, |l| l.max(ms)));
        self.bytes += f.data.len() as u64;
        match f.kind {
            FrameKind::Video => self.video(f, ms, &mut found),
            FrameKind::Audio => self.audio(f, &mut found),
            FrameKind::Metadata => {}
        }
        self.window.push_back((ms, f.data.len()));
        self.window_bytes += f.data.len();
        let newest = self.last_ms.unwrap_or(ms);
        while let Some(&(t, n)) = self.window.front() {
            if t + WINDOW_MS >= newest {
                break;
            }
            self.window.pop_front();
            self.window_bytes -= n;
        }
        if let Some(kbps) = self.full_window_kbps()
            && kbps > u64::from(self.limits.max_bitrate_kbps)
        {
            let max = self.limits.max_bitrate_kbps;
            self.breach(
                &mut found,
                "max_bitrate_kbps",
                max.to_string(),
                kbps.to_string(),
                format!(
                    "bitrate {kbps} kbit/s over {} exceeds the limit of {max} kbit/s",
                    secs(WINDOW_MS)
                ),
            );
        }
        found
    }

    fn video(&mut self, f: &MediaFrame, ms: u64, found: &mut Vec<Breach>) {
        if f.codec != Codec::None && self.video_checked != Some(f.codec) {
            self.video_checked = Some(f.codec);
            self.video_codec.get_or_insert(f.codec);
            let name = f.codec.name();
            if !self.limits.video_codecs.iter().any(|c| c == &name) {
                let allowed = self.limits.video_codecs.join(", ");
                self.breach(
                    found,
                    "video_codecs",
                    allowed.clone(),
                    name.clone(),
                    format!("video codec {name} is not allowed (allowed: {allowed})"),
                );
            }
        }
        if f.is_config {
            if f.codec == Codec::H264
                && let Some(info) = f
                    .data
                    .get(5..)
                    .and_then(AvcConfig::parse)
                    .and_then(|c| c.info)
            {
                self.size = Some((info.width, info.height));
                self.check_size(info.width, info.height, found);
            }
            return;
        }
        self.video_times.push_back(ms);
        while let Some(&t) = self.video_times.front() {
            if t + WINDOW_MS >= ms {
                break;
            }
            self.video_times.pop_front();
        }
        if let Some(fps) = self.measured_fps()
            && fps > f64::from(self.limits.max_fps) * FPS_TOLERANCE
        {
            let max = self.limits.max_fps;
            let announced = self
                .announced_fps
                .map(|a| format!(" (the encoder announces {a:.1} fps)"))
                .unwrap_or_default();
            self.breach(
                found,
                "max_fps",
                max.to_string(),
                format!("{fps:.1}"),
                format!("frame rate {fps:.1} fps{announced} exceeds the limit of {max} fps"),
            );
        }
        let max_kf = u64::from(self.limits.max_keyframe_interval_ms);
        if f.is_keyframe {
            if let Some(last) = self.last_keyframe_ms
                && ms > last
            {
                let interval = ms - last;
                self.keyframe_interval_ms = Some(interval);
                let warn_kf = u64::from(self.limits.warn_keyframe_interval_ms);
                if interval > warn_kf && interval <= max_kf {
                    self.breach(
                        found,
                        WARN_KEYFRAME,
                        warn_kf.to_string(),
                        interval.to_string(),
                        format!(
                            "keyframe interval {} is above the recommended {} (HLS segments are cut at keyframes, so viewers wait longer)",
                            secs(interval),
                            secs(warn_kf)
                        ),
                    );
                }
                if interval > max_kf {
                    self.breach(
                        found,
                        "max_keyframe_interval_ms",
                        max_kf.to_string(),
                        interval.to_string(),
                        format!(
                            "keyframe interval {} exceeds the limit of {}",
                            secs(interval),
                            secs(max_kf)
                        ),
                    );
                }
            }
            self.last_keyframe_ms = Some(ms);
        } else if let Some(last) = self.last_keyframe_ms
            && ms > last + max_kf * KEYFRAME_STALL_FACTOR
        {
            let waited = ms - last;
            self.breach(
                found,
                "max_keyframe_interval_ms",
                max_kf.to_string(),
                waited.to_string(),
                format!(
                    "keyframe interval over {} (no keyframe for {}) exceeds the limit of {}",
                    secs(waited),
                    secs(waited),
                    secs(max_kf)
                ),
            );
        }
    }

    fn audio(&mut self, f: &MediaFrame, found: &mut Vec<Breach>) {
        if f.codec == Codec::None || self.audio_checked == Some(f.codec) {
            return;
        }
        self.audio_checked = Some(f.codec);
        self.audio_codec.get_or_insert(f.codec);
        let name = f.codec.name();
        if !self.limits.audio_codecs.iter().any(|c| c == &name) {
            let allowed = self.limits.audio_codecs.join(", ");
            self.breach(
                found,
                "audio_codecs",
                allowed.clone(),
                name.clone(),
                format!("audio codec {name} is not allowed (allowed: {allowed})"),
            );
        }
    }

    fn check_size(&mut self, width: u32, height: u32, found: &mut Vec<Breach>) {
        let (max_w, max_h) = (self.limits.max_width, self.limits.max_height);
        if width > max_w {
            self.breach(
                found,
                "max_width",
                max_w.to_string(),
                width.to_string(),
                format!("width {width} px ({width}x{height}) exceeds the limit of {max_w} px"),
            );
        }
        if height > max_h {
            self.breach(
                found,
                "max_height",
                max_h.to_string(),
                height.to_string(),
                format!("height {height} px ({width}x{height}) exceeds the limit of {max_h} px"),
            );
        }
    }

    fn breach(
        &mut self,
        found: &mut Vec<Breach>,
        limit: &'static str,
        configured: String,
        measured: String,
        description: String,
    ) {
        if self.reported.insert(limit) {
            found.push(Breach {
                limit,
                configured,
                measured,
                description,
                flag_only: limit == WARN_KEYFRAME,
            });
        }
    }

    /// Bitrate over the window once the window holds a full span of media, kbit/s.
    fn full_window_kbps(&self) -> Option<u64> {
        let (first, _) = *self.window.front()?;
        let span = self.last_ms? - first;
        (span + 100 >= WINDOW_MS).then(|| self.kbps(span))
    }

    fn kbps(&self, span_ms: u64) -> u64 {
        (self.window_bytes as u64 * 8) / span_ms.max(1)
    }

    fn measured_fps(&self) -> Option<f64> {
        let first = *self.video_times.front()?;
        let last = *self.video_times.back()?;
        let span = last.checked_sub(first)?;
        (span >= MIN_FPS_SPAN_MS)
            .then(|| (self.video_times.len() - 1) as f64 * 1000.0 / span as f64)
    }

    /// The figures of the feed now. `total_bytes` counts the whole session (all its connections);
    /// `skew_ms` is the media clock's lead over the wall clock.
    pub fn health(&self, total_bytes: u64, skew_ms: i64) -> Health {
        let span = match (self.window.front(), self.last_ms) {
            (Some(&(first, _)), Some(last)) => last - first,
            _ => 0,
        };
        Health {
            bitrate_kbps: if span > 0 { self.kbps(span) as u32 } else { 0 },
            fps: self
                .video_times
                .front()
                .zip(self.video_times.back())
                .filter(|(a, b)| b > a)
                .map(|(a, b)| {
                    let fps = (self.video_times.len() - 1) as f64 * 1000.0 / (b - a) as f64;
                    (fps * 100.0).round() / 100.0
                })
                .unwrap_or(0.0),
            keyframe_interval_ms: self.keyframe_interval_ms.map(|v| v as u32),
            width: self.size.map(|s| s.0),
            height: self.size.map(|s| s.1),
            video_codec: self.video_codec.map(Codec::name),
            audio_codec: self.audio_codec.map(Codec::name),
            bytes: total_bytes,
            skew_ms,
        }
    }

    /// Media time of the newest frame, ms.
    pub fn media_ms(&self) -> Option<u64> {
        self.last_ms
    }
}

#[cfg(test)]
mod tests;
