//! FLV files as a load generator needs them: parse the tags of a pre-encoded file, and turn them into
//! ready-to-send RTMP chunk bytes once, so that sending a tag later costs a copy and two small
//! patches (timestamp and message stream id), nothing more.

use std::path::Path;

use anyhow::{Context, bail};
use inlet_ingest::rtmp::amf0;
use inlet_ingest::rtmp::chunk::ChunkWriter;

/// One FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script data.
    pub tag_type: u8,
    /// Milliseconds (24 bits plus the extension byte).
    pub timestamp: u32,
    pub body: Vec<u8>,
}

/// Parses an FLV file: 9-byte header (or whatever size its header says), `PreviousTagSize0`, then
/// tags (type, 24-bit size, 24-bit timestamp + 8-bit extension, 24-bit stream id, body, previous tag
/// size). A truncated last tag is an error: the file is ours, it should be whole.
pub fn parse(data: &[u8]) -> anyhow::Result<Vec<FlvTag>> {
    if data.len() < 9 || &data[..3] != b"FLV" {
        bail!("not an FLV file");
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    while pos < data.len() {
        let h = data
            .get(pos..pos + 11)
            .context("FLV tag header truncated")?;
        let tag_type = h[0] & 0x1F;
        let size = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let timestamp =
            u32::from(h[7]) << 24 | u32::from(h[4]) << 16 | u32::from(h[5]) << 8 | u32::from(h[6]);
        let body = data
            .get(pos + 11..pos + 11 + size)
            .context("FLV tag body truncated")?;
        tags.push(FlvTag {
            tag_type,
            timestamp,
            body: body.to_vec(),
        });
        pos += 11 + size + 4;
    }
    Ok(tags)
}

/// Encodes a test source with ffmpeg: 1280x720 at 30 fps (x264 ultrafast, CBR-ish at
/// `video_kbps`, keyframe every 2 s) and a 48 kHz sine in AAC at 96 kb/s, `seconds` long.
pub fn encode_test_source(path: &Path, seconds: u32, video_kbps: u32) -> anyhow::Result<()> {
    let kbps = format!("{video_kbps}k");
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-b:v", &kbps, "-maxrate", &kbps, "-bufsize", &kbps, "-g", "60",
        ])
        .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv"])
        .arg(path)
        .output()
        .context("could not run ffmpeg (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A tag turned into RTMP chunks.
#[derive(Debug, Clone)]
struct WireTag {
    /// Timestamp within one loop of the source, ms.
    timestamp: u32,
    /// Sent once at the start only (metadata, codec configuration), not on every loop.
    once: bool,
    /// Format-0 chunk followed by format-3 continuations; timestamp 0 and stream id 1 as written.
    wire: Vec<u8>,
}

/// Chunk stream ids the generator uses (below 64, so the basic header is one byte).
const CSID_AUDIO: u32 = 4;
const CSID_DATA: u32 = 5;
const CSID_VIDEO: u32 = 6;

/// Where a publisher is in the looped source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    lap: u32,
    index: usize,
}

/// A source ready to send: the tags pre-chunked at one chunk size, looped with timestamps that keep
/// growing across loops.
#[derive(Debug, Clone)]
pub struct Source {
    tags: Vec<WireTag>,
    /// Length of one loop, ms.
    pub period_ms: u32,
    /// Bytes on the wire for one loop (tags sent on every loop only).
    pub loop_bytes: u64,
    pub chunk_size: usize,
}

impl Source {
    /// Pre-chunks `tags` for `chunk_size`. The loop period is the last timestamp plus one typical
    /// video frame interval (the median gap between video tags).
    pub fn new(tags: &[FlvTag], chunk_size: usize) -> anyhow::Result<Source> {
        let writer = ChunkWriter::new(chunk_size);
        let mut out = Vec::with_capacity(tags.len());
        for t in tags {
            let (csid, once, body) = match t.tag_type {
                8 => {
                    let aac_config =
                        t.body.first().is_some_and(|b| b >> 4 == 10) && t.body.get(1) == Some(&0);
                    (CSID_AUDIO, aac_config, t.body.clone())
                }
                9 => {
                    let avc_config =
                        t.body.first().is_some_and(|b| b & 0x0F == 7) && t.body.get(1) == Some(&0);
                    (CSID_VIDEO, avc_config, t.body.clone())
                }
                18 => {
                    // Encoders send metadata as `@setDataFrame("onMetaData", {...})`.
                    let mut body = Vec::with_capacity(t.body.len() + 16);
                    amf0::encode(&mut body, &amf0::string("@setDataFrame"));
                    body.extend_from_slice(&t.body);
                    (CSID_DATA, true, body)
                }
                _ => continue,
            };
            let mut wire = Vec::with_capacity(body.len() + body.len() / chunk_size + 16);
            writer.write(&mut wire, csid, 0, t.tag_type, 1, &body);
            out.push(WireTag {
                timestamp: t.timestamp,
                once,
                wire,
            });
        }
        if !out.iter().any(|t| !t.once) {
            bail!("the source has no audio or video frames");
        }
        let mut video_ts: Vec<u32> = tags
            .iter()
            .filter(|t| t.tag_type == 9)
            .map(|t| t.timestamp)
            .collect();
        video_ts.dedup();
        let mut gaps: Vec<u32> = video_ts
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        gaps.sort_unstable();
        let frame = gaps.get(gaps.len() / 2).copied().unwrap_or(33).max(1);
        let last = out.iter().map(|t| t.timestamp).max().unwrap_or(0);
        let loop_bytes = out
            .iter()
            .filter(|t| !t.once)
            .map(|t| t.wire.len() as u64)
            .sum();
        Ok(Source {
            tags: out,
            period_ms: last + frame,
            loop_bytes,
            chunk_size,
        })
    }

    /// Loads and pre-chunks an FLV file.
    pub fn load(path: &Path, chunk_size: usize) -> anyhow::Result<Source> {
        let data = std::fs::read(path).with_context(|| format!("could not read {path:?}"))?;
        Source::new(&parse(&data)?, chunk_size)
    }

    /// The rate the source sends at once looping, bits per second (RTMP framing included).
    pub fn wire_bps(&self) -> f64 {
        self.loop_bytes as f64 * 8.0 / (f64::from(self.period_ms) / 1e3)
    }

    /// Appends to `out` every tag due at or before `due_ms` (media time since the publish started)
    /// that `cursor` has not sent yet, with its timestamp and `stream_id` patched in. Returns the
    /// number of tags appended.
    pub fn fill(
        &self,
        cursor: &mut Cursor,
        due_ms: u64,
        stream_id: u32,
        out: &mut Vec<u8>,
    ) -> usize {
        let mut n = 0;
        loop {
            if cursor.index >= self.tags.len() {
                cursor.lap += 1;
                cursor.index = 0;
            }
            let tag = &self.tags[cursor.index];
            if cursor.lap > 0 && tag.once {
                cursor.index += 1;
                continue;
            }
            let ts = u64::from(cursor.lap) * u64::from(self.period_ms) + u64::from(tag.timestamp);
            if ts > due_ms {
                return n;
            }
            // Extended timestamps are not patched in: 0xFFFFFF ms is 4.6 hours, far beyond a run.
            let ts = ts.min(0xFF_FFFE) as u32;
            let at = out.len();
            out.extend_from_slice(&tag.wire);
            out[at + 1..at + 4].copy_from_slice(&ts.to_be_bytes()[1..]);
            out[at + 8..at + 12].copy_from_slice(&stream_id.to_le_bytes());
            cursor.index += 1;
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use inlet_ingest::rtmp::chunk::{ChunkLimits, ChunkReader};

    fn tag(tag_type: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let size = body.len() as u32;
        let mut t = vec![tag_type];
        t.extend_from_slice(&size.to_be_bytes()[1..]);
        t.extend_from_slice(&ts.to_be_bytes()[1..]);
        t.push((ts >> 24) as u8);
        t.extend_from_slice(&[0, 0, 0]);
        t.extend_from_slice(body);
        t.extend_from_slice(&(size + 11).to_be_bytes());
        t
    }

    fn file(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        for t in tags {
            f.extend_from_slice(t);
        }
        f
    }

    #[test]
    fn parses_tags_with_extended_timestamps() {
        let f = file(&[
            tag(18, 0, b"\x02\x00\x0aonMetaData"),
            tag(9, 0x0100_0005, &[0x17, 0, 1, 2]),
        ]);
        let tags = parse(&f).expect("parse");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].tag_type, 18);
        assert_eq!(tags[1].timestamp, 0x0100_0005);
        assert_eq!(tags[1].body, vec![0x17, 0, 1, 2]);
        assert!(parse(&f[..f.len() - 6]).is_err(), "truncated body");
        assert!(parse(b"GIF89a").is_err());
    }

    #[test]
    fn loops_skip_configuration_and_keep_timestamps_growing() {
        let big = vec![0x27u8; 10_000];
        let mut video = vec![0x17, 1, 0, 0, 0];
        video.extend_from_slice(&big);
        let tags = parse(&file(&[
            tag(18, 0, b"\x02\x00\x0aonMetaData"),
            tag(9, 0, &[0x17, 0, 0, 0, 0, 1]),
            tag(8, 0, &[0xAF, 0, 0x12, 0x10]),
            tag(9, 0, &video),
            tag(8, 21, &[0xAF, 1, 5, 5]),
            tag(9, 33, &[0x27, 1, 0, 0, 0, 9]),
            tag(9, 66, &[0x27, 1, 0, 0, 0, 9]),
        ]))
        .expect("parse");
        let src = Source::new(&tags, 4096).expect("source");
        assert_eq!(src.period_ms, 99, "last timestamp plus one frame");

        let mut cursor = Cursor::default();
        let mut wire = Vec::new();
        // Two and a half loops, sent in uneven ticks.
        for due in [0u64, 10, 40, 120, 200, 230] {
            src.fill(&mut cursor, due, 7, &mut wire);
        }
        let mut reader = ChunkReader::new(ChunkLimits {
            max_chunk_size: 1 << 20,
            max_message_size: 1 << 20,
            max_chunk_streams: 16,
        });
        reader.set_chunk_size(4096).expect("chunk size");
        let mut buf = BytesMut::from(&wire[..]);
        let mut msgs = Vec::new();
        loop {
            let (progress, m) = reader.read(&mut buf).expect("read");
            msgs.extend(m);
            if !progress {
                break;
            }
        }
        assert!(buf.is_empty());
        let got: Vec<(u8, u32)> = msgs.iter().map(|m| (m.type_id, m.timestamp)).collect();
        assert_eq!(
            got,
            vec![
                (18, 0),
                (9, 0),
                (8, 0),
                (9, 0),
                (8, 21),
                (9, 33),
                (9, 66),
                // Second loop: no metadata, no configuration records.
                (9, 99),
                (8, 120),
                (9, 132),
                (9, 165),
                (9, 198),
                (8, 219),
            ]
        );
        assert!(msgs.iter().all(|m| m.stream_id == 7));
        assert_eq!(msgs[3].payload.len(), video.len());
        // Metadata goes out as @setDataFrame, as encoders send it.
        let first = amf0::Decoder::new(&msgs[0].payload).value().expect("amf0");
        assert_eq!(first.as_str(), Some("@setDataFrame"));
    }
}
