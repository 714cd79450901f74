//! Muxer tests against known byte layouts, and a packet-level reader that checks every invariant.

use super::*;

/// (pid, payload_unit_start, cc, adaptation field bytes, payload bytes) of each packet.
type Parsed = (u16, bool, u8, Vec<u8>, Vec<u8>);

fn parse(ts: &[u8]) -> Vec<Parsed> {
    assert_eq!(ts.len() % PACKET, 0, "whole packets");
    ts.chunks(PACKET)
        .map(|p| {
            assert_eq!(p[0], 0x47, "sync byte");
            let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
            let pusi = p[1] & 0x40 != 0;
            let afc = (p[3] >> 4) & 0x3;
            let cc = p[3] & 0x0F;
            let mut i = 4;
            let mut af = Vec::new();
            if afc & 0x2 != 0 {
                let len = usize::from(p[4]);
                af = p[5..5 + len].to_vec();
                i = 5 + len;
            }
            let payload = if afc & 0x1 != 0 {
                p[i..].to_vec()
            } else {
                Vec::new()
            };
            (pid, pusi, cc, af, payload)
        })
        .collect()
}

#[test]
fn pat_matches_the_well_known_layout() {
    let mut m = Muxer::default();
    let mut out = Vec::new();
    m.write_tables(
        &mut out,
        Tracks {
            video: Some(STREAM_H264),
            audio: true,
        },
    );
    assert_eq!(out.len(), 2 * PACKET);
    assert_eq!(
        &out[..21],
        &[
            0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00,
            0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2
        ]
    );
    assert!(out[21..PACKET].iter().all(|b| *b == 0xFF));
    // PMT: CRC over section + CRC is zero; PCR PID is video; two elementary streams.
    let pmt = &out[PACKET + 5..];
    let len = usize::from(pmt[1] & 0x0F) << 8 | usize::from(pmt[2]);
    assert_eq!(crc32_mpeg2(&pmt[..3 + len]), 0, "PMT CRC");
    assert_eq!(
        (u16::from(pmt[8] & 0x1F) << 8) | u16::from(pmt[9]),
        PID_VIDEO
    );
    assert_eq!(pmt[12], STREAM_H264);
    assert_eq!(pmt[17], STREAM_AAC_ADTS);
}

#[test]
fn pes_header_carries_pts_dts_and_pcr_and_payload_survives() {
    let mut m = Muxer::default();
    let mut out = Vec::new();
    let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let (dts, pts) = (900_000u64, 903_000u64);
    m.write_pes(
        &mut out,
        PID_VIDEO,
        0xE0,
        pts,
        dts,
        Some(dts),
        true,
        &[&payload[..10], &[], &payload[10..500], &payload[500..]],
    );
    let packets = parse(&out);
    assert!(packets[0].1, "payload unit start");
    // Adaptation field: random access + PCR flags, PCR base = dts.
    let af = &packets[0].3;
    assert_eq!(af[0] & 0x50, 0x50);
    let base = (u64::from(af[1]) << 25)
        | (u64::from(af[2]) << 17)
        | (u64::from(af[3]) << 9)
        | (u64::from(af[4]) << 1)
        | (u64::from(af[5]) >> 7);
    assert_eq!(base, dts);
    // Reassemble the PES.
    let pes: Vec<u8> = packets.iter().flat_map(|p| p.4.clone()).collect();
    assert_eq!(&pes[..4], &[0, 0, 1, 0xE0]);
    assert_eq!(pes[7], 0xC0, "PTS and DTS present");
    let read_ts = |b: &[u8]| {
        (u64::from(b[0] >> 1 & 0x07) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | u64::from(b[4] >> 1)
    };
    assert_eq!(read_ts(&pes[9..14]), pts);
    assert_eq!(read_ts(&pes[14..19]), dts);
    assert_eq!(pes[9] >> 4, 0x3);
    assert_eq!(pes[14] >> 4, 0x1);
    assert_eq!(&pes[19..], &payload[..]);
    // Continuity counters count up from 0.
    let ccs: Vec<u8> = packets.iter().map(|p| p.2).collect();
    assert_eq!(ccs, (0..packets.len() as u8).collect::<Vec<_>>());
}

#[test]
fn every_payload_size_fills_packets_exactly_and_counters_continue() {
    let mut m = Muxer::default();
    let mut last_cc: Option<u8> = None;
    for size in 0..600usize {
        let mut out = Vec::new();
        let payload = vec![0xAB; size];
        m.write_pes(
            &mut out,
            PID_AUDIO,
            0xC0,
            1234,
            1234,
            None,
            false,
            &[&payload],
        );
        let packets = parse(&out);
        let pes: Vec<u8> = packets.iter().flat_map(|p| p.4.clone()).collect();
        assert_eq!(pes.len(), 14 + size, "size {size}");
        assert_eq!(
            usize::from(u16::from_be_bytes([pes[4], pes[5]])),
            8 + size,
            "PES length"
        );
        for p in &packets {
            if let Some(prev) = last_cc {
                assert_eq!(p.2, (prev + 1) & 0x0F, "continuity at size {size}");
            }
            last_cc = Some(p.2);
            assert!(
                p.3.iter().skip(1).all(|b| *b == 0xFF || p.3[0] != 0),
                "stuffing is 0xFF"
            );
        }
    }
}
