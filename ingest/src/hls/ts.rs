//! MPEG-TS muxer for HLS segments: PAT/PMT, PES with PTS/DTS (composition offsets respected), PCR on the
//! video PID, continuity counters per PID kept across segments, adaptation-field stuffing, and the
//! random-access indicator on keyframes. Packets are built straight into the caller's segment buffer.

pub const PACKET: usize = 188;
pub const PID_PMT: u16 = 0x1000;
pub const PID_VIDEO: u16 = 0x100;
pub const PID_AUDIO: u16 = 0x101;

/// Stream types in the PMT.
pub const STREAM_H264: u8 = 0x1B;
pub const STREAM_HEVC: u8 = 0x24;
pub const STREAM_AAC_ADTS: u8 = 0x0F;

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, initial 0xFFFFFFFF, no final xor).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = (i as u32) << 24;
            for _ in 0..8 {
                c = if c & 0x8000_0000 != 0 {
                    (c << 1) ^ 0x04C1_1DB7
                } else {
                    c << 1
                };
            }
            *e = c;
        }
        t
    });
    data.iter().fold(0xFFFF_FFFF, |crc, b| {
        (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize]
    })
}

/// What the program carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracks {
    pub video: Option<u8>,
    pub audio: bool,
}

/// Muxer state that outlives segments: continuity counters.
#[derive(Debug, Default)]
pub struct Muxer {
    cc: [u8; 4],
}

fn cc_slot(pid: u16) -> usize {
    match pid {
        0 => 0,
        PID_PMT => 1,
        PID_VIDEO => 2,
        _ => 3,
    }
}

impl Muxer {
    fn next_cc(&mut self, pid: u16) -> u8 {
        let slot = &mut self.cc[cc_slot(pid)];
        let v = *slot;
        *slot = (v + 1) & 0x0F;
        v
    }

    /// The continuity counter the next packet on `pid` will carry.
    pub fn peek_cc(&self, pid: u16) -> u8 {
        self.cc[cc_slot(pid)]
    }

    fn section(&mut self, out: &mut Vec<u8>, pid: u16, section: &[u8]) {
        let cc = self.next_cc(pid);
        let start = out.len();
        out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0x00]);
        out.extend_from_slice(section);
        let crc = crc32_mpeg2(section);
        out.extend_from_slice(&crc.to_be_bytes());
        out.resize(start + PACKET, 0xFF);
    }

    /// Writes PAT and PMT (at the start of every segment).
    pub fn write_tables(&mut self, out: &mut Vec<u8>, tracks: Tracks) {
        // PAT: program 1 → PMT PID.
        let pat = [
            0x00,
            0xB0,
            0x0D,
            0x00,
            0x01,
            0xC1,
            0x00,
            0x00,
            0x00,
            0x01,
            0xE0 | (PID_PMT >> 8) as u8,
            PID_PMT as u8,
        ];
        self.section(out, 0, &pat);
        let pcr_pid = if tracks.video.is_some() {
            PID_VIDEO
        } else {
            PID_AUDIO
        };
        let mut es = Vec::new();
        if let Some(st) = tracks.video {
            es.extend_from_slice(&[
                st,
                0xE0 | (PID_VIDEO >> 8) as u8,
                PID_VIDEO as u8,
                0xF0,
                0x00,
            ]);
        }
        if tracks.audio {
            es.extend_from_slice(&[
                STREAM_AAC_ADTS,
                0xE0 | (PID_AUDIO >> 8) as u8,
                PID_AUDIO as u8,
                0xF0,
                0x00,
            ]);
        }
        let section_len = 9 + es.len() + 4;
        let mut pmt = vec![
            0x02,
            0xB0 | (section_len >> 8) as u8,
            section_len as u8,
            0x00,
            0x01,
            0xC1,
            0x00,
            0x00,
            0xE0 | (pcr_pid >> 8) as u8,
            pcr_pid as u8,
            0xF0,
            0x00,
        ];
        pmt.extend_from_slice(&es);
        self.section(out, PID_PMT, &pmt);
    }

    /// Writes one PES (a video access unit or audio frames) as TS packets. Times are 90 kHz. The
    /// payload is the concatenation of `payload`'s pieces (gathered here, not copied before).
    #[allow(clippy::too_many_arguments)]
    pub fn write_pes(
        &mut self,
        out: &mut Vec<u8>,
        pid: u16,
        stream_id: u8,
        pts: u64,
        dts: u64,
        pcr: Option<u64>,
        random_access: bool,
        payload: &[&[u8]],
    ) {
        let payload_len: usize = payload.iter().map(|p| p.len()).sum();
        let with_dts = dts != pts;
        let header_data_len = if with_dts { 10 } else { 5 };
        let mut pes = [0u8; 19];
        pes[..3].copy_from_slice(&[0, 0, 1]);
        pes[3] = stream_id;
        let pes_len = 3 + header_data_len + payload_len;
        // Video PES may be unbounded (length 0); audio must fit.
        let len_field = if pes_len > 0xFFFF { 0 } else { pes_len as u16 };
        pes[4..6].copy_from_slice(&len_field.to_be_bytes());
        pes[6] = 0x80;
        pes[7] = if with_dts { 0xC0 } else { 0x80 };
        pes[8] = header_data_len as u8;
        write_ts(&mut pes[9..14], if with_dts { 0x3 } else { 0x2 }, pts);
        if with_dts {
            write_ts(&mut pes[14..19], 0x1, dts);
        }
        let pes_header = &pes[..9 + header_data_len];

        let mut remaining_header = pes_header;
        let mut pieces = Pieces {
            rest: payload,
            offset: 0,
            left: payload_len,
        };
        let mut first = true;
        // Header and payload in 184-byte packet bodies, plus one packet of slack.
        out.reserve((pes_header.len() + payload_len).div_ceil(PACKET - 4) * PACKET + PACKET);
        while !remaining_header.is_empty() || pieces.left > 0 || first {
            let cc = self.next_cc(pid);
            // Most packets: a plain header and a full body of payload.
            if !first && remaining_header.is_empty() && pieces.left >= PACKET - 4 {
                out.extend_from_slice(&[0x47, (pid >> 8) as u8, pid as u8, 0x10 | cc]);
                pieces.copy(out, PACKET - 4);
                continue;
            }
            let start = out.len();
            out.extend_from_slice(&[
                0x47,
                (if first { 0x40 } else { 0 }) | (pid >> 8) as u8,
                pid as u8,
                0,
            ]);
            // Adaptation field: PCR/random access on the first packet; stuffing on the last.
            let mut af: [u8; 8] = [0; 8];
            let mut af_len = 0usize; // bytes after the length byte
            let mut has_af = false;
            if first && (pcr.is_some() || random_access) {
                has_af = true;
                af[0] = if random_access { 0x40 } else { 0 };
                af_len = 1;
                if let Some(pcr) = pcr {
                    af[0] |= 0x10;
                    let base = pcr & 0x1_FFFF_FFFF;
                    af[1] = (base >> 25) as u8;
                    af[2] = (base >> 17) as u8;
                    af[3] = (base >> 9) as u8;
                    af[4] = (base >> 1) as u8;
                    af[5] = ((base & 1) << 7) as u8 | 0x7E;
                    af[6] = 0;
                    af_len = 7;
                }
            }
            let body = remaining_header.len() + pieces.left;
            let af_bytes = if has_af { 1 + af_len } else { 0 };
            let room = PACKET - 4 - af_bytes;
            let mut stuffing = 0;
            let mut need_af = has_af;
            if body < room {
                // Pad with adaptation-field stuffing so the packet ends exactly with the payload.
                let pad = room - body;
                if has_af {
                    stuffing = pad;
                } else {
                    need_af = true;
                    // A 1-byte pad is an empty adaptation field (length 0); more needs the flags byte.
                    stuffing = pad.saturating_sub(2);
                    af_len = if pad >= 2 { 1 } else { 0 };
                    af[0] = 0;
                }
            }
            if need_af {
                out[start + 3] = 0x30 | cc;
                let total_af_len = if has_af {
                    af_len + stuffing
                } else if body < room {
                    (room - body) - 1
                } else {
                    0
                };
                out.push(total_af_len as u8);
                out.extend_from_slice(&af[..af_len]);
                out.resize(out.len() + stuffing, 0xFF);
            } else {
                out[start + 3] = 0x10 | cc;
            }
            let space = PACKET - (out.len() - start);
            let from_header = remaining_header.len().min(space);
            out.extend_from_slice(&remaining_header[..from_header]);
            remaining_header = &remaining_header[from_header..];
            pieces.copy(out, space - from_header);
            debug_assert_eq!(out.len() - start, PACKET);
            first = false;
        }
    }
}

/// The unwritten rest of a payload given in pieces: `rest[0][offset..]`, then the other pieces.
struct Pieces<'a, 'b> {
    rest: &'b [&'a [u8]],
    offset: usize,
    left: usize,
}

impl Pieces<'_, '_> {
    /// Appends up to `n` bytes to `out`, crossing piece boundaries.
    fn copy(&mut self, out: &mut Vec<u8>, mut n: usize) {
        while n > 0 {
            let Some((head, tail)) = self.rest.split_first() else {
                return;
            };
            let avail = &head[self.offset..];
            let take = avail.len().min(n);
            out.extend_from_slice(&avail[..take]);
            n -= take;
            self.left -= take;
            if take == avail.len() {
                self.rest = tail;
                self.offset = 0;
            } else {
                self.offset += take;
            }
        }
    }
}

/// A 33-bit timestamp in the PES 5-byte layout with the given 4-bit prefix.
fn write_ts(out: &mut [u8], prefix: u8, ts: u64) {
    let ts = ts & 0x1_FFFF_FFFF;
    out[0] = (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1;
    out[1] = (ts >> 22) as u8;
    out[2] = (((ts >> 15) as u8) << 1) | 1;
    out[3] = (ts >> 7) as u8;
    out[4] = ((ts as u8) << 1) | 1;
}

#[cfg(test)]
mod tests;
