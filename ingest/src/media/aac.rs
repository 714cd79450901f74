//! AAC in FLV: the AudioSpecificConfig and the ADTS header MPEG-TS needs before each raw frame.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// MPEG-4 audio object type (2 = AAC LC).
    pub object_type: u8,
    pub sampling_index: u8,
    pub channels: u8,
}

/// Sampling rates by index.
const RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AacConfig {
    pub fn parse(asc: &[u8]) -> Option<AacConfig> {
        if asc.len() < 2 {
            return None;
        }
        let object_type = asc[0] >> 3;
        let sampling_index = ((asc[0] & 0x07) << 1) | (asc[1] >> 7);
        let channels = (asc[1] >> 3) & 0x0F;
        if object_type == 0 || object_type > 4 || sampling_index > 12 {
            // ADTS can only carry object types 1–4 with a table rate.
            return None;
        }
        Some(AacConfig {
            object_type,
            sampling_index,
            channels,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        RATES[usize::from(self.sampling_index.min(12))]
    }

    /// Appends the 7-byte ADTS header for a raw frame of `len` bytes; false if too long for ADTS.
    pub fn adts_header(&self, len: usize, out: &mut Vec<u8>) -> bool {
        let total = len + 7;
        if total > 0x1FFF {
            return false;
        }
        let profile = self.object_type - 1;
        out.extend_from_slice(&[
            0xFF,
            0xF1,
            (profile << 6) | (self.sampling_index << 2) | ((self.channels >> 2) & 0x01),
            ((self.channels & 0x03) << 6) | ((total >> 11) as u8 & 0x03),
            (total >> 3) as u8,
            (((total & 0x07) as u8) << 5) | 0x1F,
            0xFC,
        ]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_and_adts_layout() {
        // AAC LC, 48 kHz, stereo.
        let c = AacConfig::parse(&[0x11, 0x90]).expect("asc");
        assert_eq!(
            c,
            AacConfig {
                object_type: 2,
                sampling_index: 3,
                channels: 2
            }
        );
        assert_eq!(c.sample_rate(), 48000);
        let mut h = Vec::new();
        assert!(c.adts_header(100, &mut h));
        assert_eq!(h, vec![0xFF, 0xF1, 0x4C, 0x80, 0x0D, 0x7F, 0xFC]);
        assert!(!c.adts_header(9000, &mut Vec::new()));
        assert!(AacConfig::parse(&[0x11]).is_none());
        assert!(AacConfig::parse(&[0xF8, 0x00]).is_none());
    }
}
