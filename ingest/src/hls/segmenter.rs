//! The HLS segmenter, sans-IO: frames in, segment bytes and playlist texts out. Segments are cut at the
//! first keyframe at or after the target duration (by time for audio-only streams); the live playlist
//! keeps a sliding window with `EXT-X-PROGRAM-DATE-TIME`, `EXT-X-DISCONTINUITY` on timestamp jumps and
//! reconnects, and `EXT-X-ENDLIST` when the publisher leaves. Segments that left the window (plus a
//! margin) are named for removal.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::ts::{Muxer, PID_AUDIO, PID_VIDEO, STREAM_H264, Tracks};
use crate::media::aac::AacConfig;
use crate::media::avc::AvcConfig;
use crate::media::{Codec, FrameKind, MediaFrame};

/// Packaging settings (SRS/nginx-rtmp names: `hls_fragment`, `hls_window`).
#[derive(Debug, Clone, Copy)]
pub struct HlsSettings {
    /// Target segment duration (`hls_fragment`).
    pub fragment: Duration,
    /// Segments listed in the live playlist (`hls_window`).
    pub window: usize,
    /// Segments kept on disk after leaving the playlist, for players still fetching them.
    pub margin: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        HlsSettings {
            fragment: Duration::from_secs(2),
            window: 6,
            margin: 3,
        }
    }
}

/// What the segmenter asks its writer to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Segment { name: String, bytes: Vec<u8> },
    Playlist(String),
    Remove(String),
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    duration_ms: u64,
    discontinuity: bool,
    program_date: SystemTime,
}

struct Open {
    buf: Vec<u8>,
    start_ms: u64,
    discontinuity: bool,
}

/// A jump larger than this (or backwards by more than `BACKWARDS_MS`) starts a discontinuity.
const JUMP_MS: u64 = 10_000;
const BACKWARDS_MS: u64 = 1_000;
/// Audio waits this long for a video configuration before the stream is treated as audio-only.
const AUDIO_ONLY_AFTER_MS: u64 = 1_000;
/// PTS/DTS offset so small negative composition offsets stay positive.
const TS_OFFSET_90K: u64 = 90_000;

pub struct Segmenter {
    settings: HlsSettings,
    /// Segment names start with this, so a later session's segments never reuse a cached name.
    prefix: String,
    muxer: Muxer,
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    audio_only: bool,
    first_audio_ms: Option<u64>,
    current: Option<Open>,
    playlist: VecDeque<Entry>,
    removed_discontinuities: u64,
    next_seq: u64,
    pending_discontinuity: bool,
    /// Where the timeline continues after a reconnect (set by `discontinuity`, used by the next
    /// frame), and the shift applied to the current connection's timestamps.
    resume_at: Option<u64>,
    offset_ms: i64,
    /// Extended (non-wrapping) timestamp of the last frame, ms.
    last_ms: Option<u64>,
    last_delta_ms: u64,
    /// Wall clock of timestamp 0 of the current timeline.
    anchor: Option<(SystemTime, u64)>,
    ended: bool,
    /// `EXT-X-TARGETDURATION`: fixed for the session (RFC 8216 §6.2.1), raised only if a segment's
    /// rounded duration would exceed it (a GOP longer than the fragment).
    target_secs: u64,
    scratch: Vec<u8>,
    /// A written segment's buffer, handed back by the writer (`recycle`) for a later segment.
    spare: Option<Vec<u8>>,
    /// Frames dropped because they could not be packaged (unsupported codec, malformed).
    pub dropped: u64,
}

impl Segmenter {
    pub fn new(settings: HlsSettings, prefix: &str) -> Segmenter {
        Segmenter {
            settings,
            prefix: prefix.to_string(),
            muxer: Muxer::default(),
            avc: None,
            aac: None,
            audio_only: false,
            first_audio_ms: None,
            current: None,
            playlist: VecDeque::new(),
            removed_discontinuities: 0,
            next_seq: 0,
            pending_discontinuity: false,
            resume_at: None,
            offset_ms: 0,
            last_ms: None,
            last_delta_ms: 33,
            anchor: None,
            ended: false,
            target_secs: settings.fragment.as_millis().div_ceil(1000).max(1) as u64,
            scratch: Vec::with_capacity(16),
            spare: None,
            dropped: 0,
        }
    }

    /// Width and height of the video, when known.
    pub fn video_size(&self) -> Option<(u32, u32)> {
        self.avc
            .as_ref()
            .and_then(|c| c.info)
            .map(|i| (i.width, i.height))
    }

    /// Marks the next segment as discontinuous (a reconnect continuing the session). The new
    /// connection's timestamps are shifted to continue where the old ones stopped, so players see
    /// time go on across the discontinuity instead of starting over.
    pub fn discontinuity(&mut self, out: &mut Vec<Output>) {
        self.close(None, out);
        self.pending_discontinuity = true;
        self.resume_at = self
            .last_ms
            .map(|l| l + self.last_delta_ms)
            .or(self.resume_at);
        self.last_ms = None;
        self.anchor = None;
        self.ended = false;
    }

    fn tracks(&self) -> Tracks {
        Tracks {
            video: self.avc.as_ref().map(|_| STREAM_H264),
            audio: self.aac.is_some(),
        }
    }

    pub fn push(&mut self, f: &MediaFrame, now: SystemTime, out: &mut Vec<Output>) {
        let raw = i64::from(f.timestamp);
        if f.kind != FrameKind::Metadata
            && !f.is_config
            && let Some(at) = self.resume_at.take()
        {
            self.offset_ms = at as i64 - raw;
        }
        let ms = (raw + self.offset_ms).max(0) as u64;
        match f.kind {
            FrameKind::Metadata => {}
            FrameKind::Video if f.codec != Codec::H264 => self.dropped += 1,
            FrameKind::Video if f.is_config => {
                self.avc = f.data.get(5..).and_then(AvcConfig::parse);
                if self.avc.is_none() {
                    self.dropped += 1;
                }
            }
            FrameKind::Audio if f.codec == Codec::Aac && f.is_config => {
                self.aac = f.data.get(2..).and_then(AacConfig::parse);
            }
            FrameKind::Video => self.video(f, ms, now, out),
            FrameKind::Audio => self.audio(f, ms, now, out),
        }
    }

    fn timeline(&mut self, ms: u64, now: SystemTime, out: &mut Vec<Output>) {
        if let Some(last) = self.last_ms {
            if ms + BACKWARDS_MS < last || ms > last + JUMP_MS {
                self.close(Some(last + self.last_delta_ms), out);
                self.pending_discontinuity = true;
                self.anchor = None;
            } else if ms > last {
                self.last_delta_ms = (ms - last).min(1000);
            }
        }
        if self.anchor.is_none() {
            self.anchor = Some((now, ms));
        }
        self.last_ms = Some(ms);
    }

    /// Takes back a segment's buffer once it is written, so the next segments are built in memory
    /// that is already mapped and large enough (no regrowth copies, no fresh pages per segment).
    /// The segment started meanwhile moves into it when it is the smaller.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        match self.current.as_mut() {
            Some(open) if open.buf.capacity() < buf.capacity() => {
                buf.extend_from_slice(&open.buf);
                self.spare = Some(std::mem::replace(&mut open.buf, buf));
            }
            _ => self.spare = Some(buf),
        }
    }

    fn start(&mut self, ms: u64) {
        let mut buf = match self.spare.take() {
            Some(mut b) => {
                b.clear();
                b
            }
            // Until the writer hands a buffer back (`recycle`).
            None => Vec::with_capacity(64 * 1024),
        };
        self.muxer.write_tables(&mut buf, self.tracks());
        self.current = Some(Open {
            buf,
            start_ms: ms,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
        });
    }

    fn video(&mut self, f: &MediaFrame, ms: u64, now: SystemTime, out: &mut Vec<Output>) {
        // AVC packet type 1 is coded NAL units; 2 (end of sequence) carries no picture.
        if f.data.get(1) != Some(&1) {
            return;
        }
        if self.avc.is_none() || f.data.len() < 5 {
            self.dropped += 1;
            return;
        }
        self.timeline(ms, now, out);
        let cts = {
            let c = &f.data[2..5];
            let raw = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            // Sign-extend 24 bits.
            ((raw << 8) as i32 >> 8) as i64
        };
        let keyframe = f.is_keyframe;
        match &self.current {
            None if !keyframe => {
                self.dropped += 1;
                return;
            }
            None => self.start(ms),
            Some(open)
                if keyframe
                    && ms.saturating_sub(open.start_ms)
                        >= self.settings.fragment.as_millis() as u64 =>
            {
                self.close(Some(ms), out);
                self.start(ms);
            }
            Some(_) => {}
        }
        let Some(avc) = self.avc.as_ref() else {
            return;
        };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(16);
        let converted = avc.annexb(&f.data[5..], keyframe, &mut parts);
        // Nothing but our access unit delimiter: no picture to package.
        if !converted || parts.len() <= 1 {
            self.dropped += 1;
            return;
        }
        let dts = ms * 90 + TS_OFFSET_90K;
        let pts = (dts as i64 + cts * 90).max(0) as u64;
        if let Some(open) = self.current.as_mut() {
            self.muxer.write_pes(
                &mut open.buf,
                PID_VIDEO,
                0xE0,
                pts,
                dts,
                Some(dts),
                keyframe,
                &parts,
            );
        }
    }

    fn audio(&mut self, f: &MediaFrame, ms: u64, now: SystemTime, out: &mut Vec<Output>) {
        let Some(aac) = self.aac else {
            self.dropped += 1;
            return;
        };
        if f.codec != Codec::Aac || f.data.len() < 2 {
            self.dropped += 1;
            return;
        }
        if self.avc.is_none() && !self.audio_only {
            let first = *self.first_audio_ms.get_or_insert(ms);
            if ms.saturating_sub(first) >= AUDIO_ONLY_AFTER_MS {
                self.audio_only = true;
            }
        }
        if self.current.is_none() && !self.audio_only {
            // Segments of a video stream start at a keyframe.
            return;
        }
        self.timeline(ms, now, out);
        if self.audio_only {
            match &self.current {
                None => self.start(ms),
                Some(open)
                    if ms.saturating_sub(open.start_ms)
                        >= self.settings.fragment.as_millis() as u64 =>
                {
                    self.close(Some(ms), out);
                    self.start(ms);
                }
                Some(_) => {}
            }
        }
        self.scratch.clear();
        let raw = &f.data[2..];
        if !aac.adts_header(raw.len(), &mut self.scratch) {
            self.dropped += 1;
            return;
        }
        let ts = ms * 90 + TS_OFFSET_90K;
        let pcr = self.audio_only.then_some(ts);
        if let Some(open) = self.current.as_mut() {
            self.muxer.write_pes(
                &mut open.buf,
                PID_AUDIO,
                0xC0,
                ts,
                ts,
                pcr,
                false,
                &[&self.scratch, raw],
            );
        }
    }

    /// Ends the current segment at `end_ms` (or the last frame's end).
    fn close(&mut self, end_ms: Option<u64>, out: &mut Vec<Output>) {
        let Some(open) = self.current.take() else {
            return;
        };
        let end = end_ms
            .or(self.last_ms.map(|l| l + self.last_delta_ms))
            .unwrap_or(open.start_ms);
        let duration_ms = end.saturating_sub(open.start_ms).max(1);
        let seq = self.next_seq;
        self.next_seq += 1;
        let program_date = match self.anchor {
            Some((wall, base)) if open.start_ms >= base => {
                wall + Duration::from_millis(open.start_ms - base)
            }
            Some((wall, _)) => wall,
            None => SystemTime::now(),
        };
        // EXTINF rounded to the nearest second must not exceed the target.
        self.target_secs = self.target_secs.max((duration_ms + 500) / 1000);
        out.push(Output::Segment {
            name: segment_name(&self.prefix, seq),
            bytes: open.buf,
        });
        self.playlist.push_back(Entry {
            seq,
            duration_ms,
            discontinuity: open.discontinuity,
            program_date,
        });
        while self.playlist.len() > self.settings.window {
            if let Some(old) = self.playlist.pop_front() {
                self.removed_discontinuities += u64::from(old.discontinuity);
                if let Some(gone) = old.seq.checked_sub(self.settings.margin as u64) {
                    out.push(Output::Remove(segment_name(&self.prefix, gone)));
                }
            }
        }
        out.push(Output::Playlist(self.render()));
    }

    /// Closes the last segment and ends the playlist (`EXT-X-ENDLIST`).
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        self.close(None, out);
        if !self.ended && !self.playlist.is_empty() {
            self.ended = true;
            out.push(Output::Playlist(self.render()));
        }
    }

    fn render(&self) -> String {
        use std::fmt::Write;
        let target = self.target_secs;
        let mut s = String::with_capacity(1024);
        let _ = write!(
            s,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            self.playlist.front().map(|e| e.seq).unwrap_or(0)
        );
        if self.removed_discontinuities > 0 {
            let _ = writeln!(
                s,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.removed_discontinuities
            );
        }
        for e in &self.playlist {
            if e.discontinuity {
                s.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = write!(
                s,
                "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{}.{:03},\n{}\n",
                rfc3339_ms(e.program_date),
                e.duration_ms / 1000,
                e.duration_ms % 1000,
                segment_name(&self.prefix, e.seq)
            );
        }
        if self.ended {
            s.push_str("#EXT-X-ENDLIST\n");
        }
        s
    }
}

pub fn segment_name(prefix: &str, seq: u64) -> String {
    format!("seg-{prefix}-{seq}.ts")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339_ms(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
