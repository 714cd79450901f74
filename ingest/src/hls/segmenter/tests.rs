//! Segmenter tests on synthetic frame sequences.

use bytes::Bytes;
use rand::{Rng, SeedableRng};

use super::*;
use crate::media::avc::fixtures::avc_sequence_header;

fn avc_config() -> MediaFrame {
    MediaFrame::new(FrameKind::Video, 0, avc_sequence_header())
}

fn aac_config() -> MediaFrame {
    MediaFrame::new(
        FrameKind::Audio,
        0,
        Bytes::from_static(&[0xAF, 0, 0x11, 0x90]),
    )
}

fn video(ts: u32, key: bool) -> MediaFrame {
    let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 4];
    body.extend_from_slice(&[if key { 0x65 } else { 0x41 }, 1, 2, 3]);
    MediaFrame::new(FrameKind::Video, ts, Bytes::from(body))
}

fn audio(ts: u32) -> MediaFrame {
    MediaFrame::new(
        FrameKind::Audio,
        ts,
        Bytes::from_static(&[0xAF, 1, 0x21, 0x10, 0x05]),
    )
}

fn playlists(out: &[Output]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| {
            if let Output::Playlist(p) = o {
                Some(p.as_str())
            } else {
                None
            }
        })
        .collect()
}

fn durations(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().expect("duration"))
        .collect()
}

#[test]
fn cuts_at_keyframes_after_the_target_and_slides_the_window() {
    let mut s = Segmenter::new(HlsSettings::default(), "t");
    let mut out = Vec::new();
    let now = SystemTime::now();
    s.push(&avc_config(), now, &mut out);
    s.push(&aac_config(), now, &mut out);
    // 30 s at 30 fps, keyframe every 2.5 s (75 frames): segments of 2.5 s (first keyframe ≥ 2 s).
    for i in 0..900u32 {
        let ts = i * 100 / 3;
        s.push(&video(ts, i % 75 == 0), now, &mut out);
        s.push(&audio(ts), now, &mut out);
    }
    s.finish(&mut out);
    let segments = out
        .iter()
        .filter(|o| matches!(o, Output::Segment { .. }))
        .count();
    assert_eq!(segments, 12);
    let last = *playlists(&out).last().expect("playlist");
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
    assert!(
        last.contains("#EXT-X-TARGETDURATION:3\n"),
        "ceil of 2.5 s: {last}"
    );
    // The target never changes once set, whatever the window holds.
    let targets: std::collections::BTreeSet<&str> = playlists(&out)
        .iter()
        .filter_map(|p| p.lines().find(|l| l.starts_with("#EXT-X-TARGETDURATION")))
        .collect();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert!(
        last.contains("#EXT-X-MEDIA-SEQUENCE:6\n"),
        "window of 6: {last}"
    );
    assert_eq!(last.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 6);
    let d = durations(last);
    assert!(d[..5].iter().all(|x| (*x - 2.5).abs() < 0.01), "{d:?}");
    // Removed: segments that left the window by more than the margin (3).
    let removed: Vec<&str> = out
        .iter()
        .filter_map(|o| {
            if let Output::Remove(n) = o {
                Some(n.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(removed, vec!["seg-t-0.ts", "seg-t-1.ts", "seg-t-2.ts"]);
    // Every segment starts with PAT and PMT.
    for o in &out {
        if let Output::Segment { bytes, .. } = o {
            assert_eq!(&bytes[..4], &[0x47, 0x40, 0x00, 0x10 | (bytes[3] & 0x0F)]);
            assert_eq!(bytes.len() % 188, 0);
        }
    }
}

#[test]
fn timestamp_jumps_and_reconnects_mark_discontinuities() {
    let mut s = Segmenter::new(HlsSettings::default(), "t");
    let mut out = Vec::new();
    let now = SystemTime::now();
    s.push(&avc_config(), now, &mut out);
    for i in 0..120u32 {
        s.push(&video(i * 33, i % 60 == 0), now, &mut out);
    }
    // Jump 60 s ahead.
    for i in 0..120u32 {
        s.push(&video(60_000 + i * 33, i % 60 == 0), now, &mut out);
    }
    s.discontinuity(&mut out);
    for i in 0..90u32 {
        s.push(&video(i * 33, i % 60 == 0), now, &mut out);
    }
    s.finish(&mut out);
    let last = *playlists(&out).last().expect("playlist");
    assert_eq!(last.matches("#EXT-X-DISCONTINUITY\n").count(), 2, "{last}");
    assert!(
        durations(last).iter().all(|d| *d < 5.0),
        "no segment spans the jump: {last}"
    );
}

#[test]
fn audio_only_streams_are_cut_by_time() {
    let mut s = Segmenter::new(HlsSettings::default(), "t");
    let mut out = Vec::new();
    let now = SystemTime::now();
    s.push(&aac_config(), now, &mut out);
    for i in 0..500u32 {
        s.push(&audio(i * 21), now, &mut out);
    }
    s.finish(&mut out);
    let last = *playlists(&out).last().expect("playlist");
    let d = durations(last);
    assert!(d.len() >= 4, "{last}");
    assert!(
        d[..d.len() - 1].iter().all(|x| (2.0..2.1).contains(x)),
        "{d:?}"
    );
}

/// Property: for any frame sequence, the packaged segments' durations sum to the span from the first
/// packaged frame to the end of the last one.
#[test]
fn segment_durations_sum_to_the_input_span() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for case in 0..200 {
        let settings = HlsSettings {
            fragment: Duration::from_millis(rng.random_range(500..4000)),
            window: 1000,
            margin: 0,
        };
        let mut s = Segmenter::new(settings, "t");
        let mut out = Vec::new();
        let now = SystemTime::now();
        s.push(&avc_config(), now, &mut out);
        let mut ts = rng.random_range(0..100_000u32);
        let mut first_packaged = None;
        let mut last_delta = 33;
        let n = rng.random_range(1..400);
        for i in 0..n {
            let key = i == 0 || rng.random_ratio(1, 20);
            if first_packaged.is_none() && key {
                first_packaged = Some(ts);
            }
            s.push(&video(ts, key), now, &mut out);
            last_delta = rng.random_range(1..200);
            ts += last_delta;
        }
        s.finish(&mut out);
        let last_ts = ts - last_delta;
        let total_ms: f64 = playlists(&out)
            .last()
            .map(|p| durations(p))
            .unwrap_or_default()
            .iter()
            .sum::<f64>()
            * 1000.0;
        // The last segment ends one (last observed) frame interval after the last frame.
        let span =
            f64::from(last_ts - first_packaged.expect("first")) + f64::from(s.last_delta_ms as u32);
        assert!(
            (total_ms - span).abs() < 1.5,
            "case {case}: durations {total_ms} vs span {span}"
        );
    }
}

#[test]
fn a_reconnect_continues_the_timeline_where_the_old_connection_stopped() {
    let mut s = Segmenter::new(HlsSettings::default(), "t");
    let mut out = Vec::new();
    let now = SystemTime::now();
    s.push(&avc_config(), now, &mut out);
    for i in 0..100u32 {
        s.push(&video(5_000 + i * 33, i % 60 == 0), now, &mut out);
    }
    let stopped = s.last_ms.expect("timeline");
    s.discontinuity(&mut out);
    // The new connection's encoder starts its clock at 0 again, and sends its header first.
    s.push(&avc_config(), now, &mut out);
    s.push(&video(0, true), now, &mut out);
    assert_eq!(s.last_ms, Some(stopped + 33), "continues one frame later");
    s.push(&video(33, false), now, &mut out);
    assert_eq!(s.last_ms, Some(stopped + 66));
    s.finish(&mut out);
    let last = *playlists(&out).last().expect("playlist");
    assert_eq!(last.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{last}");
}
