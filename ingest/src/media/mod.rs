//! Media frames as the RTMP session hands them on: FLV audio/video/script tag bodies with their
//! timestamps, classified (codec, sequence header or not, keyframe or not) from the tag's first bytes,
//! including Enhanced RTMP FourCC video headers. Consumers implement `MediaSink`.

pub mod aac;
pub mod avc;
pub mod bits;

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    Video,
    /// `onMetaData`, re-encoded as `["onMetaData", {...}]` without the `@setDataFrame` prefix.
    Metadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Hevc,
    Av1,
    Vp9,
    /// Another FLV video codec id, or another FourCC.
    OtherVideo(u32),
    Aac,
    Mp3,
    Opus,
    OtherAudio(u8),
    None,
}

impl Codec {
    /// The name used in stream limits (`video_codecs`, `audio_codecs`).
    pub fn name(self) -> String {
        match self {
            Codec::H264 => "h264".into(),
            Codec::Hevc => "hevc".into(),
            Codec::Av1 => "av1".into(),
            Codec::Vp9 => "vp9".into(),
            Codec::Aac => "aac".into(),
            Codec::Mp3 => "mp3".into(),
            Codec::Opus => "opus".into(),
            Codec::OtherVideo(id) if id > 0xFF => {
                String::from_utf8_lossy(&id.to_be_bytes()).into_owned()
            }
            Codec::OtherVideo(id) => format!("flv-video-{id}"),
            Codec::OtherAudio(id) => format!("flv-audio-{id}"),
            Codec::None => "none".into(),
        }
    }
}

/// One frame of a publish session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    pub kind: FrameKind,
    /// RTMP timestamp, milliseconds.
    pub timestamp: u32,
    pub codec: Codec,
    /// A codec configuration record (AVC/HEVC decoder configuration, AudioSpecificConfig).
    pub is_config: bool,
    pub is_keyframe: bool,
    /// The FLV tag body as received.
    pub data: Bytes,
}

impl MediaFrame {
    /// Classifies an FLV tag body.
    pub fn new(kind: FrameKind, timestamp: u32, data: Bytes) -> MediaFrame {
        let (codec, is_config, is_keyframe) = match kind {
            FrameKind::Video => classify_video(&data),
            FrameKind::Audio => classify_audio(&data),
            FrameKind::Metadata => (Codec::None, false, false),
        };
        MediaFrame {
            kind,
            timestamp,
            codec,
            is_config,
            is_keyframe,
            data,
        }
    }
}

fn classify_video(d: &[u8]) -> (Codec, bool, bool) {
    let Some(&b0) = d.first() else {
        return (Codec::None, false, false);
    };
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: [IsExHeader:1][FrameType:3][PacketType:4][FourCC:4]...
        let frame_type = (b0 >> 4) & 0x07;
        let packet_type = b0 & 0x0F;
        let fourcc = d
            .get(1..5)
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .unwrap_or(0);
        let codec = match &fourcc.to_be_bytes() {
            b"avc1" => Codec::H264,
            b"hvc1" => Codec::Hevc,
            b"av01" => Codec::Av1,
            b"vp09" => Codec::Vp9,
            _ => Codec::OtherVideo(fourcc),
        };
        // PacketType 0 = SequenceStart, 5 = MPEG2TSSequenceStart.
        return (codec, packet_type == 0 || packet_type == 5, frame_type == 1);
    }
    let frame_type = b0 >> 4;
    let codec = match b0 & 0x0F {
        7 => Codec::H264,
        12 => Codec::Hevc,
        id => Codec::OtherVideo(u32::from(id)),
    };
    let is_config = matches!(codec, Codec::H264 | Codec::Hevc) && d.get(1) == Some(&0);
    (codec, is_config, frame_type == 1)
}

fn classify_audio(d: &[u8]) -> (Codec, bool, bool) {
    let Some(&b0) = d.first() else {
        return (Codec::None, false, false);
    };
    let codec = match b0 >> 4 {
        10 => Codec::Aac,
        2 | 14 => Codec::Mp3,
        9 => {
            // Enhanced RTMP audio: ExAudioTagHeader with a FourCC.
            match d.get(1..5) {
                Some(b"Opus") => Codec::Opus,
                Some(b"mp4a") => Codec::Aac,
                Some(b".mp3") => Codec::Mp3,
                _ => Codec::OtherAudio(9),
            }
        }
        id => Codec::OtherAudio(id),
    };
    let is_config = (codec == Codec::Aac && b0 >> 4 == 10 && d.get(1) == Some(&0))
        || (b0 >> 4 == 9 && b0 & 0x0F == 0);
    (codec, is_config, false)
}

/// Receives the frames of one publish session, in order.
pub trait MediaSink: Send {
    fn frame(&mut self, frame: MediaFrame);
    /// A publisher reconnected and continues the session: its timeline starts over.
    fn resume(&mut self) {}
    /// The session ended (publisher left, error, refusal after start, shutdown).
    fn end(&mut self, reason: &str);
}

/// A sink that counts and discards (benchmarks, tests).
#[derive(Debug, Default, Clone)]
pub struct CountingSink {
    pub video_frames: u64,
    pub audio_frames: u64,
    pub metadata: u64,
    pub config_records: u64,
    pub keyframes: u64,
    pub bytes: u64,
    pub last_video_timestamp: u32,
    pub ended: Option<String>,
}

impl MediaSink for CountingSink {
    fn frame(&mut self, f: MediaFrame) {
        self.bytes += f.data.len() as u64;
        match f.kind {
            FrameKind::Video => {
                self.video_frames += 1;
                self.last_video_timestamp = f.timestamp;
            }
            FrameKind::Audio => self.audio_frames += 1,
            FrameKind::Metadata => self.metadata += 1,
        }
        self.config_records += u64::from(f.is_config);
        self.keyframes += u64::from(f.is_keyframe && !f.is_config);
    }

    fn end(&mut self, reason: &str) {
        self.ended = Some(reason.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_flv_and_enhanced_headers() {
        let f = |k, d: &'static [u8]| MediaFrame::new(k, 0, Bytes::from_static(d));
        let avc_seq = f(FrameKind::Video, &[0x17, 0, 0, 0, 0, 1]);
        assert_eq!(
            (avc_seq.codec, avc_seq.is_config, avc_seq.is_keyframe),
            (Codec::H264, true, true)
        );
        let avc_inter = f(FrameKind::Video, &[0x27, 1, 0, 0, 0]);
        assert_eq!((avc_inter.is_config, avc_inter.is_keyframe), (false, false));
        let hevc = f(FrameKind::Video, &[0x90, b'h', b'v', b'c', b'1']);
        assert_eq!(
            (hevc.codec, hevc.is_config, hevc.is_keyframe),
            (Codec::Hevc, true, true)
        );
        let av1 = f(FrameKind::Video, &[0x91, b'a', b'v', b'0', b'1', 0]);
        assert_eq!(
            (av1.codec, av1.is_config, av1.is_keyframe),
            (Codec::Av1, false, true)
        );
        let aac = f(FrameKind::Audio, &[0xAF, 0, 0x12, 0x10]);
        assert_eq!((aac.codec, aac.is_config), (Codec::Aac, true));
        assert_eq!(f(FrameKind::Audio, &[0x2F]).codec, Codec::Mp3);
        assert_eq!(f(FrameKind::Video, &[]).codec, Codec::None);
        assert_eq!(
            Codec::OtherVideo(u32::from_be_bytes(*b"xyz1")).name(),
            "xyz1"
        );
    }
}
