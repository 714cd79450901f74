use bytes::Bytes;
use inlet_contract::limits::Limits;

use super::*;
use crate::media::avc::fixtures::avc_sequence_header;
use crate::media::{FrameKind, MediaFrame};

fn avc_header() -> MediaFrame {
    MediaFrame::new(FrameKind::Video, 0, avc_sequence_header())
}

fn video(ts: u32, key: bool, size: usize) -> MediaFrame {
    let mut tag = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    tag.resize(size.max(5), 0xAB);
    MediaFrame::new(FrameKind::Video, ts, Bytes::from(tag))
}

/// Feeds `secs` of 30 fps video (a keyframe every `gop` frames, `size` bytes a frame).
fn feed(p: &mut Policy, secs: u32, gop: u32, size: usize) -> Vec<Breach> {
    let mut found = p.frame(&avc_header());
    for i in 0..secs * 30 {
        found.extend(p.frame(&video(i * 1000 / 30, i % gop == 0, size)));
    }
    found
}

#[test]
fn a_compliant_feed_breaks_nothing_and_reports_its_figures() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(feed(&mut p, 8, 60, 4_000), vec![]);
    let h = p.health(p.bytes, 0);
    assert_eq!((h.width, h.height), (Some(1280), Some(720)));
    assert_eq!(h.keyframe_interval_ms, Some(2000));
    assert!((h.fps - 30.0).abs() < 0.5, "{}", h.fps);
    // 4000 bytes × 30 fps = 960 kbit/s.
    assert!((950..=975).contains(&h.bitrate_kbps), "{}", h.bitrate_kbps);
    assert_eq!(h.video_codec.as_deref(), Some("h264"));
}

#[test]
fn height_over_the_limit_is_measured_from_the_sps() {
    let limits = Limits {
        max_height: 480,
        ..Limits::default()
    };
    let found = Policy::new(limits).frame(&avc_header());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].limit, "max_height");
    assert_eq!(
        (found[0].configured.as_str(), found[0].measured.as_str()),
        ("480", "720")
    );
    assert!(
        found[0]
            .description
            .contains("height 720 px (1280x720) exceeds the limit of 480 px")
    );
}

#[test]
fn a_long_gop_is_refused_with_the_measured_interval() {
    let limits = Limits {
        max_keyframe_interval_ms: 4_000,
        ..Limits::default()
    };
    let mut p = Policy::new(limits);
    // A keyframe every 150 frames (5 s): reported at the second keyframe.
    let found = feed(&mut p, 6, 150, 1_000);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].measured, "5000");
    assert!(
        found[0]
            .description
            .contains("keyframe interval 5.0 s exceeds the limit of 4.0 s")
    );
}

#[test]
fn no_keyframe_for_twice_the_limit_is_judged_without_waiting() {
    let limits = Limits {
        max_keyframe_interval_ms: 2_000,
        ..Limits::default()
    };
    let mut p = Policy::new(limits);
    let found = feed(&mut p, 6, 300, 1_000);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].limit, "max_keyframe_interval_ms");
    assert!(
        found[0].description.contains("no keyframe for 4.0 s"),
        "{found:?}"
    );
}

#[test]
fn bitrate_is_judged_over_a_full_window_once() {
    let limits = Limits {
        max_bitrate_kbps: 4_000,
        ..Limits::default()
    };
    let mut p = Policy::new(limits);
    // 33 000 bytes × 30 fps ≈ 7.9 Mbit/s, judged only once 5 s of media are in the window.
    let mut found = p.frame(&avc_header());
    let mut at = None;
    for i in 0..300u32 {
        let f = p.frame(&video(i * 1000 / 30, i % 60 == 0, 33_000));
        if !f.is_empty() && at.is_none() {
            at = Some(i);
        }
        found.extend(f);
    }
    assert_eq!(found.len(), 1, "reported once: {found:?}");
    assert_eq!(found[0].limit, "max_bitrate_kbps");
    let measured: u64 = found[0].measured.parse().expect("number");
    assert!((7_800..=8_100).contains(&measured), "{measured}");
    assert!(
        at.is_some_and(|i| i >= 145),
        "not before a full window: {at:?}"
    );
}

#[test]
fn frame_rate_and_codecs_are_policed() {
    let limits = Limits {
        max_fps: 25,
        audio_codecs: vec!["aac".into()],
        ..Limits::default()
    };
    let mut p = Policy::new(limits);
    let found = feed(&mut p, 3, 60, 500);
    assert_eq!(
        found.iter().map(|b| b.limit).collect::<Vec<_>>(),
        vec!["max_fps"]
    );
    let mp3 = MediaFrame::new(FrameKind::Audio, 10, Bytes::from_static(&[0x2F, 1, 2]));
    let found = p.frame(&mp3);
    assert_eq!(found[0].limit, "audio_codecs");
    assert!(
        found[0]
            .description
            .contains("audio codec mp3 is not allowed (allowed: aac)")
    );

    let hevc = MediaFrame::new(
        FrameKind::Video,
        0,
        Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1']),
    );
    let found = Policy::new(Limits::default()).frame(&hevc);
    assert_eq!(found[0].limit, "video_codecs");
    assert_eq!(found[0].measured, "hevc");
}

#[test]
fn backwards_timestamps_restart_the_measurement_without_panicking() {
    let mut p = Policy::new(Limits::default());
    feed(&mut p, 3, 60, 1_000);
    assert!(p.frame(&video(0, true, 1_000)).is_empty());
    let _ = p.frame(&video(u32::MAX, false, 10));
    let h = p.health(0, 0);
    assert!(h.fps >= 0.0);
    // After the clock restarts, the new timeline is measured on its own.
    let mut p = Policy::new(Limits::default());
    feed(&mut p, 8, 60, 1_000);
    for i in 0..200u32 {
        let _ = p.frame(&video(i * 1000 / 30, i % 60 == 0, 4_000));
    }
    let h = p.health(p.bytes, 0);
    assert!((950..=975).contains(&h.bitrate_kbps), "{}", h.bitrate_kbps);
    assert_eq!(p.media_ms(), Some(199 * 1000 / 30));
}

#[test]
fn a_stock_obs_gop_is_flagged_with_a_warning_not_refused() {
    // Defaults: warn above 4 s, reject above 10 s. Stock OBS: a keyframe every 250 frames.
    let mut p = Policy::new(Limits::default());
    let found = feed(&mut p, 10, 250, 1_000);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].limit, crate::policy::WARN_KEYFRAME);
    assert!(found[0].flag_only);
    assert!((8_300..=8_400).contains(&found[0].measured.parse::<u64>().expect("ms")));
    // An 11 s GOP breaks the limit itself.
    let mut p = Policy::new(Limits::default());
    let found = feed(&mut p, 12, 330, 1_000);
    assert_eq!(
        found
            .iter()
            .map(|b| (b.limit, b.flag_only))
            .collect::<Vec<_>>(),
        vec![("max_keyframe_interval_ms", false)],
        "{found:?}"
    );
}
