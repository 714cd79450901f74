//! H.264 in FLV: the AVC decoder configuration record (SPS/PPS, NAL length size), SPS fields
//! (profile, level, width, height, frame rate when signalled), and AVCC → Annex B conversion with an
//! access unit delimiter and the parameter sets before each IDR, as MPEG-TS carries H.264.

use super::bits::{BitReader, unescape};

#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    pub profile: u8,
    pub level: u8,
    pub nal_length_size: usize,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    pub info: Option<SpsInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpsInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second when the SPS carries timing information.
    pub fps: Option<f64>,
}

fn take<'a>(d: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if d.len() < n {
        return None;
    }
    let (a, b) = d.split_at(n);
    *d = b;
    Some(a)
}

impl AvcConfig {
    /// Parses an AVCDecoderConfigurationRecord; `None` if malformed.
    pub fn parse(record: &[u8]) -> Option<AvcConfig> {
        let mut d = record;
        let head = take(&mut d, 6)?;
        if head[0] != 1 {
            return None;
        }
        let nal_length_size = usize::from(head[4] & 0x03) + 1;
        let mut sps = Vec::new();
        for _ in 0..(head[5] & 0x1F) {
            let len = take(&mut d, 2)?;
            sps.push(take(&mut d, usize::from(u16::from_be_bytes([len[0], len[1]])))?.to_vec());
        }
        let n_pps = take(&mut d, 1)?[0];
        let mut pps = Vec::new();
        for _ in 0..n_pps {
            let len = take(&mut d, 2)?;
            pps.push(take(&mut d, usize::from(u16::from_be_bytes([len[0], len[1]])))?.to_vec());
        }
        let info = sps.first().and_then(|s| parse_sps(s));
        Some(AvcConfig {
            profile: head[1],
            level: head[3],
            nal_length_size,
            sps,
            pps,
            info,
        })
    }

    /// One access unit as Annex B, as the pieces to write in order (no copy of the frame): AUD,
    /// then SPS/PPS before an IDR, then the frame's NALs, each after a start code. Returns false
    /// when the frame's NAL lengths run past its end (the frame is then dropped; `parts` is left
    /// as it was).
    pub fn annexb<'a>(&'a self, avcc: &'a [u8], keyframe: bool, parts: &mut Vec<&'a [u8]>) -> bool {
        const START: &[u8] = &[0, 0, 0, 1];
        const AUD: &[u8] = &[0, 0, 0, 1, 0x09, 0xF0];
        let first = parts.len();
        parts.push(AUD);
        let mut params_written = false;
        let mut d = avcc;
        while !d.is_empty() {
            let Some(len) = take(&mut d, self.nal_length_size) else {
                parts.truncate(first);
                return false;
            };
            let len = len
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            let Some(nal) = take(&mut d, len) else {
                parts.truncate(first);
                return false;
            };
            let Some(&header) = nal.first() else { continue };
            let nal_type = header & 0x1F;
            // The encoder's own AUDs are replaced by ours; parameter sets in-band are kept.
            if nal_type == 9 {
                continue;
            }
            if (nal_type == 5 || (keyframe && nal_type == 1)) && !params_written {
                for p in self.sps.iter().chain(self.pps.iter()) {
                    parts.push(START);
                    parts.push(p);
                }
                params_written = true;
            }
            parts.push(START);
            parts.push(nal);
        }
        true
    }
}

/// Width, height and frame rate from an SPS NAL unit (header byte included).
pub fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    let rbsp = unescape(nal.get(1..)?);
    let mut r = BitReader::new(&rbsp);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma
        r.ue()?; // bit_depth_chroma
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    let width_mbs = r.ue()? + 1;
    let height_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        crop_l = r.ue()?;
        crop_r = r.ue()?;
        crop_t = r.ue()?;
        crop_b = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        0 | 3 => (1, 1),
        2 => (2, 1),
        _ => (2, 2),
    };
    let crop_unit_y = sub_h * (2 - frame_mbs_only);
    let width = (width_mbs * 16).checked_sub((crop_l + crop_r).checked_mul(sub_w)?)?;
    let height = (height_units * 16 * (2 - frame_mbs_only))
        .checked_sub((crop_t + crop_b).checked_mul(crop_unit_y)?)?;
    let mut fps = None;
    if r.bit() == Some(1) {
        fps = parse_vui_fps(&mut r);
    }
    Some(SpsInfo { width, height, fps })
}

fn parse_vui_fps(r: &mut BitReader<'_>) -> Option<f64> {
    if r.bit()? == 1 && r.bits(8)? == 255 {
        r.bits(32)?; // sar
    }
    if r.bit()? == 1 {
        r.bit()?; // overscan_appropriate
    }
    if r.bit()? == 1 {
        r.bits(4)?;
        if r.bit()? == 1 {
            r.bits(24)?;
        }
    }
    if r.bit()? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? == 1 {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 {
            return Some(f64::from(scale) / (2.0 * f64::from(units)));
        }
    }
    None
}

/// Test fixtures other modules' tests share: a real x264 SPS and the FLV tag that carries it.
#[cfg(test)]
pub(crate) mod fixtures {
    /// SPS of a 1280x720 High-profile stream with timing info at 30 fps (x264 output).
    pub const SPS_720P: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
    ];

    /// An FLV AVC sequence header tag body carrying `SPS_720P` and a PPS.
    pub fn avc_sequence_header() -> bytes::Bytes {
        let mut body = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xFF, 0xE1];
        body.extend_from_slice(&(SPS_720P.len() as u16).to_be_bytes());
        body.extend_from_slice(SPS_720P);
        body.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        bytes::Bytes::from(body)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::SPS_720P;
    use super::*;

    #[test]
    fn sps_dimensions_and_rate() {
        let info = parse_sps(SPS_720P).expect("sps");
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.fps, Some(30.0));
        assert!(
            parse_sps(&[0x67, 0x64]).is_none(),
            "truncated SPS is None, not a panic"
        );
    }

    #[test]
    fn record_parses_and_annexb_puts_parameter_sets_before_idr() {
        let mut rec = vec![1, 0x64, 0, 0x1f, 0xFF, 0xE1];
        rec.extend_from_slice(&(SPS_720P.len() as u16).to_be_bytes());
        rec.extend_from_slice(SPS_720P);
        rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        let cfg = AvcConfig::parse(&rec).expect("record");
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!(cfg.info.map(|i| i.width), Some(1280));
        let idr = [0, 0, 0, 3, 0x65, 0xAA, 0xBB];
        let mut parts = Vec::new();
        assert!(cfg.annexb(&idr, true, &mut parts));
        let out = parts.concat();
        let expected_prefix = [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67];
        assert_eq!(&out[..expected_prefix.len()], &expected_prefix);
        assert!(out.ends_with(&[0, 0, 0, 1, 0x65, 0xAA, 0xBB]));
        let mut bad = Vec::new();
        assert!(
            !cfg.annexb(&[0, 0, 0, 9, 0x65], true, &mut bad),
            "length past the end"
        );
        assert!(bad.is_empty());
        assert!(AvcConfig::parse(&[1, 2, 3]).is_none());
    }
}
