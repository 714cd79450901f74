//! HLS end to end with real players: ffmpeg publishes 10 s of 720p30 with a 2 s GOP; the API shows
//! the stream live with `playback.hls_url`; ffprobe sees H.264 + AAC at 1280x720; ffmpeg decodes the
//! playlist with no error; every segment's TS packets keep their continuity counters; after the
//! publisher leaves (with no reconnect window) the playlist ends and the stream is idle again.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Stack;
use serde_json::Value;

async fn get_stream(stack: &Stack, token: &str, id: &str) -> Value {
    stack
        .http
        .get(format!("{}/v1/streams/{id}", stack.api))
        .bearer_auth(token)
        .send()
        .await
        .expect("get stream")
        .json()
        .await
        .expect("json")
}

/// Checks continuity counters of every PID across a run of TS bytes; returns (packets, errors).
fn continuity_errors(ts: &[u8], last: &mut HashMap<u16, u8>) -> (usize, usize) {
    let mut errors = 0;
    for p in ts.chunks(188) {
        assert_eq!(p.len(), 188, "whole packets");
        assert_eq!(p[0], 0x47, "sync byte");
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let has_payload = p[3] & 0x10 != 0;
        let cc = p[3] & 0x0F;
        if has_payload {
            if let Some(prev) = last.get(&pid)
                && (prev + 1) & 0x0F != cc
            {
                errors += 1;
            }
            last.insert(pid, cc);
        }
    }
    (ts.len() / 188, errors)
}

#[tokio::test]
async fn published_stream_plays_as_hls_in_ffprobe_and_ffmpeg() {
    let stack = Stack::start_hls(|_| {}).await;
    let (token, stream_id, key) = stack.stream().await;
    // The playlist ends when the publisher leaves, not after a reconnect window (reconnect.rs).
    let patched = stack
        .http
        .patch(format!("{}/v1/streams/{stream_id}", stack.api))
        .bearer_auth(&token)
        .json(&serde_json::json!({"reconnect_window_seconds": 0}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let url = stack.rtmp_url("live", &key);
    let publish_started = Instant::now();
    let publisher = tokio::spawn(async move {
        tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-t",
                "10",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "60",
                "-keyint_min",
                "60",
            ])
            .args([
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "flv", &url,
            ])
            .output()
            .await
            .expect("ffmpeg runs")
    });

    // The API shows the stream live, then the playback URL once the first segment exists.
    let mut hls_url = None;
    let mut saw_live = false;
    for _ in 0..150 {
        let s = get_stream(&stack, &token, &stream_id).await;
        saw_live |= s["status"] == "live";
        if let Some(u) = s["playback"]["hls_url"].as_str() {
            assert_eq!(s["status"], "live");
            assert!(s["active_session"]["id"].is_string());
            hls_url = Some(u.to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hls_url = hls_url.expect("playback.hls_url appears");
    assert!(saw_live);
    let (_, base) = stack.hls.as_ref().expect("hls stack");
    assert!(hls_url.starts_with(&format!("{base}/hls/")), "{hls_url}");
    assert!(
        !hls_url.contains(key.split('_').nth(2).expect("secret")),
        "the playback id is not the key"
    );

    // Time from publish start to HLS ready, from the session the API recorded.
    let (started, ready): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT started_at, hls_ready_at FROM publish_sessions")
            .fetch_one(&stack.db)
            .await
            .expect("session row");
    let ready_ms = (ready - started).num_milliseconds();
    // The first segment is cut at the first keyframe after 2 s (GOP 2 s): ready ≤ 2 s + 500 ms.
    assert!(
        (0..=2500).contains(&ready_ms),
        "publish → hls_ready took {ready_ms} ms"
    );
    assert!(publish_started.elapsed() < Duration::from_secs(8));

    // Playlist served with the right headers.
    let resp = stack.http.get(&hls_url).send().await.expect("playlist");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age=1")
    );
    let playlist = resp.text().await.expect("text");
    assert!(playlist.starts_with("#EXTM3U"), "{playlist}");
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"));

    // ffprobe: H.264 1280x720 and AAC.
    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
            &hls_url,
        ])
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let streams: Value = serde_json::from_slice(&probe.stdout).expect("ffprobe json");
    let streams = streams["streams"].as_array().expect("streams");
    assert!(
        streams
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["width"] == 1280 && s["height"] == 720),
        "{streams:?}"
    );
    assert!(
        streams.iter().any(|s| s["codec_name"] == "aac"),
        "{streams:?}"
    );

    let out = publisher.await.expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // After the publisher leaves: the playlist ends, the stream is idle, playback is gone.
    let mut ended = String::new();
    for _ in 0..50 {
        ended = stack
            .http
            .get(&hls_url)
            .send()
            .await
            .expect("playlist")
            .text()
            .await
            .expect("text");
        if ended.contains("#EXT-X-ENDLIST") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended.contains("#EXT-X-ENDLIST"), "{ended}");
    let mut idle = Value::Null;
    for _ in 0..50 {
        idle = get_stream(&stack, &token, &stream_id).await;
        if idle["status"] == "idle" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(idle["status"], "idle");
    assert_eq!(idle["playback"], Value::Null);
    assert!(idle["last_live_at"].is_string());

    // ffmpeg decodes the whole (ended) playlist without errors.
    let errors = common::ffmpeg_decode_errors(&hls_url).await;
    assert!(errors.is_empty(), "decode errors: {errors}");

    // Continuity counters hold within and across every segment of the playlist.
    let mut last = HashMap::new();
    let mut total = 0;
    let segments: Vec<&str> = ended.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(segments.len() >= 4, "{ended}");
    let durations: Vec<f64> = ended
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().expect("d"))
        .collect();
    assert!(
        durations[..durations.len() - 1]
            .iter()
            .all(|d| (1.9..=2.2).contains(d)),
        "2 s segments: {durations:?}"
    );
    let dir = hls_url.rsplit_once('/').expect("dir").0.to_string();
    for seg in &segments {
        let resp = stack
            .http
            .get(format!("{dir}/{seg}"))
            .send()
            .await
            .expect("segment");
        assert_eq!(resp.headers()["content-type"], "video/mp2t");
        let bytes = resp.bytes().await.expect("bytes");
        let (packets, errors) = continuity_errors(&bytes, &mut last);
        total += packets;
        assert_eq!(errors, 0, "continuity errors in {seg}");
    }
    assert!(total > 1000);

    // Unknown ids and names are 404; no listing, no traversal.
    for path in [
        "/hls/nope/index.m3u8",
        "/hls/",
        &format!("/hls/{}/", dir.rsplit('/').next().expect("id")),
        "/hls/x/..%2Findex.m3u8",
    ] {
        let resp = stack
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), 404, "{path}");
    }
}
