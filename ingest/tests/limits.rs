//! Stream limits enforced on real ffmpeg feeds (docs/troubleshooting.md): a feed that breaks a
//! limit with `on_violation: reject` is closed and ffmpeg prints which limit and the measured
//! value; the session ends as `limits_violation` with the measured value recorded. With `flag` the
//! feed stays live and a warning is recorded. A keyframe interval above `warn_keyframe_interval_ms`
//! (4 s by default, stock OBS sends 8.3 s) only flags a warning. `max_continuous_duration_seconds`
//! ends long sessions.
//!
//! HEVC: Debian 12's ffmpeg (5.1) and GStreamer (1.22) cannot carry HEVC over RTMP (Enhanced RTMP
//! arrived in ffmpeg 6.1), so the `video_codecs` case is driven by a raw Enhanced-RTMP client in
//! `hostile.rs` (`a_video_codec_hls_cannot_carry_is_refused_naming_it`).

mod common;

use std::time::{Duration, Instant};

use common::{Owner, Stack, ffmpeg_publish_with};
use serde_json::{Value, json};

/// Waits for the newest session to have ended and returns it (from `GET
/// /v1/streams/{id}/sessions`).
async fn ended_session(o: &Owner<'_>) -> Value {
    for _ in 0..100 {
        if let Some(s) = o.sessions().await.into_iter().next()
            && s["ended_at"].is_string()
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session never ended: {:?}", o.sessions().await);
}

/// Publishes and asserts ffmpeg was refused with `says` in its log within `within`; returns the
/// ended session.
async fn assert_refused(
    o: &Owner<'_>,
    size: &str,
    fps: u32,
    args: &[&str],
    secs: u32,
    within: Duration,
    says: &str,
) -> Value {
    let started = Instant::now();
    let out = ffmpeg_publish_with(&o.stack.rtmp_url("live", &o.key), secs, size, fps, args).await;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ffmpeg was not refused:\n{stderr}");
    assert!(
        stderr.contains(says),
        "ffmpeg's log lacks {says:?}:\n{stderr}"
    );
    assert!(
        took < within,
        "refused after {took:?}, expected within {within:?}"
    );
    let s = ended_session(o).await;
    assert_eq!(s["end_reason"], "limits_violation", "{s}");
    s
}

fn warning<'a>(session: &'a Value, limit: &str) -> &'a Value {
    session["warnings"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["limit"] == limit))
        .unwrap_or_else(|| panic!("no {limit} warning on {session}"))
}

#[tokio::test]
async fn a_1080p_feed_against_max_height_720_is_refused_with_the_measured_height() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"limits": {"max_height": 720}})).await;
    let s = assert_refused(
        &o,
        "1920x1080",
        15,
        &["-g", "30"],
        6,
        Duration::from_secs(5),
        "height 1080 px (1920x1080) exceeds the limit of 720 px",
    )
    .await;
    let w = warning(&s, "max_height");
    assert_eq!(
        (w["configured"].as_str(), w["measured"].as_str()),
        (Some("720"), Some("1080"))
    );
    assert_eq!(w["action"], "rejected");
}

#[tokio::test]
async fn a_10_s_gop_against_a_4_s_keyframe_limit_is_refused() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"limits": {"max_keyframe_interval_ms": 4000}}))
        .await;
    // -g 300 at 30 fps: one keyframe every 10 s; judged once 8 s (twice the limit) pass without one.
    let s = assert_refused(
        &o,
        "640x360",
        30,
        &["-g", "300", "-keyint_min", "300", "-sc_threshold", "0"],
        15,
        Duration::from_secs(12),
        "exceeds the limit of 4.0 s",
    )
    .await;
    let w = warning(&s, "max_keyframe_interval_ms");
    let measured: u64 = w["measured"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .expect("ms");
    assert!(measured > 8_000, "{w}");
}

#[tokio::test]
async fn an_8_mbps_feed_against_4000_kbps_is_refused_with_the_measured_bitrate() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"limits": {"max_bitrate_kbps": 4000}})).await;
    // Constant 8 Mbit/s (x264 pads with filler data under nal-hrd=cbr).
    let s = assert_refused(
        &o,
        "640x360",
        30,
        &[
            "-g",
            "60",
            "-b:v",
            "8M",
            "-minrate",
            "8M",
            "-maxrate",
            "8M",
            "-bufsize",
            "2M",
            "-x264-params",
            "nal-hrd=cbr",
        ],
        12,
        Duration::from_secs(10),
        "exceeds the limit of 4000 kbit/s",
    )
    .await;
    let w = warning(&s, "max_bitrate_kbps");
    let measured: u64 = w["measured"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .expect("kbps");
    assert!((6_500..=10_000).contains(&measured), "{w}");
}

#[tokio::test]
async fn with_flag_a_violating_feed_stays_live_and_a_warning_is_recorded() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"limits": {"max_height": 720, "on_violation": "flag"}, "reconnect_window_seconds": 0}))
        .await;
    let out = ffmpeg_publish_with(
        &stack.rtmp_url("live", &o.key),
        4,
        "1920x1080",
        15,
        &["-g", "30"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = ended_session(&o).await;
    assert_eq!(s["end_reason"], "publisher_left", "{s}");
    let w = warning(&s, "max_height");
    assert_eq!(w["action"], "flagged");
    assert_eq!(w["measured"], "1080");
    assert_eq!(
        (s["width"].as_i64(), s["height"].as_i64()),
        (Some(1920), Some(1080)),
        "{s}"
    );
    let frames = stack.sinks.snapshot()[0].video_frames;
    assert!(
        frames > 30,
        "the flagged feed was packaged: {frames} frames"
    );
}

#[tokio::test]
async fn max_continuous_duration_ends_the_session() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    // The API accepts at least 60 s; a test cannot wait that long.
    sqlx::query("UPDATE streams SET max_continuous_duration_seconds = 3")
        .execute(&stack.db)
        .await
        .expect("duration");
    let started = Instant::now();
    let out = ffmpeg_publish_with(
        &stack.rtmp_url("live", &o.key),
        15,
        "640x360",
        30,
        &["-g", "60"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("maximum continuous duration (3 s)"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ended_session(&o).await["end_reason"], "max_duration");
}

#[tokio::test]
async fn stock_obs_keyframes_every_250_frames_pass_the_defaults_with_a_warning() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    // Default limits: warn above 4 s, reject above 10 s. 250 frames at 30 fps = 8.3 s.
    let out = ffmpeg_publish_with(
        &stack.rtmp_url("live", &o.key),
        10,
        "640x360",
        30,
        &["-g", "250", "-keyint_min", "250", "-sc_threshold", "0"],
    )
    .await;
    assert!(
        out.status.success(),
        "stock OBS keyframes are let in:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = ended_session(&o).await;
    assert_eq!(s["end_reason"], "publisher_left", "{s}");
    let w = warning(&s, "warn_keyframe_interval_ms");
    assert_eq!(w["action"], "flagged");
    let measured: u64 = w["measured"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .expect("ms");
    assert!((8_000..=8_700).contains(&measured), "{w}");
    assert!(
        w["description"].as_str().unwrap_or("").contains("Advanced"),
        "the warning says how to fix it: {w}"
    );
}
