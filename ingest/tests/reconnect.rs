//! The reconnect window end to end (docs/api.md): ffmpeg is killed mid-publish and restarted within
//! `reconnect_window_seconds`; the stream stays live (reconnecting) in between, the second publish
//! continues the same session with the same playback URL, the playlist carries
//! `EXT-X-DISCONTINUITY` and ffmpeg decodes it across the reconnect; once the window passes after
//! the last publish, the playlist ends and the stream is idle. A publisher that stops on purpose
//! (`FCUnpublish`/`deleteStream`) ends its session at once, window or not. Both services'
//! `/metrics` expose the series of docs/operations.md, scraped and parsed.

mod common;

use std::time::Duration;

use common::{Owner, Stack, ffmpeg_decode_errors, ffmpeg_publish};
use serde_json::{Value, json};

/// Polls the stream until `ok` holds; returns it.
async fn wait_stream(o: &Owner<'_>, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = o.get_stream().await;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {last}");
}

/// Parses Prometheus text into (series with labels, value) pairs.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `metric` (any labels).
fn total(samples: &[(String, f64)], metric: &str) -> Option<f64> {
    let hits: Vec<f64> = samples
        .iter()
        .filter(|(n, _)| n == metric || n.starts_with(&format!("{metric}{{")))
        .map(|(_, v)| *v)
        .collect();
    (!hits.is_empty()).then(|| hits.iter().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_comes_back_within_the_window_continues_the_session() {
    let stack = Stack::start_hls(|_| {}).await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"reconnect_window_seconds": 6})).await;

    let url = stack.rtmp_url("live", &o.key);
    let first = tokio::spawn({
        let url = url.clone();
        async move { ffmpeg_publish(&url, 60).await }
    });
    let live = wait_stream(&o, "first publish plays", |s| {
        s["playback"]["hls_url"].is_string()
    })
    .await;
    let session = live["active_session"]["id"]
        .as_str()
        .expect("session")
        .to_string();
    let hls_url = live["playback"]["hls_url"]
        .as_str()
        .expect("url")
        .to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The encoder dies (SIGKILL: no FCUnpublish); the stream waits for it, still live.
    first.abort();
    let waiting = wait_stream(&o, "reconnecting", |s| {
        s["active_session"]["state"] == "reconnecting"
    })
    .await;
    assert_eq!(waiting["status"], "live");
    assert_eq!(waiting["playback"]["hls_url"], hls_url.as_str());

    // It comes back within the window: same session, same playback URL.
    let second = tokio::spawn({
        let url = url.clone();
        async move { ffmpeg_publish(&url, 6).await }
    });
    let resumed = wait_stream(&o, "resumed", |s| s["active_session"]["state"] == "live").await;
    assert_eq!(
        resumed["active_session"]["id"],
        session.as_str(),
        "{resumed}"
    );
    assert_eq!(resumed["active_session"]["reconnects"], 1, "{resumed}");
    assert_eq!(resumed["playback"]["hls_url"], hls_url.as_str());
    let out = second.await.expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // After the window passes without a publisher, the session ends and the playlist with it.
    let idle = wait_stream(&o, "idle after the window", |s| s["status"] == "idle").await;
    assert_eq!(idle["playback"], Value::Null);
    let playlist = stack
        .http
        .get(&hls_url)
        .send()
        .await
        .expect("playlist")
        .text()
        .await
        .expect("text");
    assert!(playlist.contains("#EXT-X-DISCONTINUITY"), "{playlist}");
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let sessions = o.sessions().await;
    assert_eq!(
        sessions.len(),
        1,
        "one session across the reconnect: {sessions:?}"
    );
    assert_eq!(sessions[0]["id"], session.as_str());
    assert_eq!(sessions[0]["reconnects"], 1);
    assert_eq!(sessions[0]["end_reason"], "publisher_left");

    // ffmpeg decodes the playlist across the discontinuity without errors.
    let errors = ffmpeg_decode_errors(&hls_url).await;
    assert!(errors.is_empty(), "decode errors: {errors}");

    // Both services expose the series of docs/operations.md.
    let (_, hls_base) = stack.hls.as_ref().expect("hls");
    let scrape = |url: String| {
        let http = stack.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text")
        }
    };
    let ingest = samples(&scrape(format!("{hls_base}/metrics")).await);
    for (metric, at_least) in [
        ("inlet_ingest_publish_attempts_total", 2.0),
        ("inlet_ingest_ingested_bytes_total", 100_000.0),
        ("inlet_ingest_authorize_seconds_count", 2.0),
        ("inlet_ingest_session_bitrate_kbps_count", 1.0),
        ("inlet_ingest_keyframe_interval_seconds_count", 1.0),
        ("inlet_ingest_time_to_first_frame_seconds_count", 2.0),
        ("inlet_ingest_time_to_hls_ready_seconds_count", 1.0),
        ("inlet_ingest_reconnects_total", 1.0),
        ("inlet_ingest_hls_segments_total", 3.0),
        ("inlet_ingest_live_sessions", 0.0),
        ("inlet_ingest_reconnecting_sessions", 0.0),
    ] {
        let v = total(&ingest, metric).unwrap_or_else(|| panic!("{metric} missing"));
        assert!(
            v >= at_least,
            "{metric} = {v}, expected at least {at_least}"
        );
    }
    let api = samples(&scrape(format!("{}/metrics", stack.api)).await);
    for (metric, at_least) in [
        ("inlet_api_publish_attempts_total", 2.0),
        ("inlet_api_live_sessions", 0.0),
        ("inlet_api_reconnects_total", 1.0),
        ("inlet_api_time_to_first_frame_seconds_count", 1.0),
        ("inlet_api_time_to_hls_ready_seconds_count", 1.0),
        ("inlet_api_sessions_ended_total", 1.0),
    ] {
        let v = total(&api, metric).unwrap_or_else(|| panic!("{metric} missing"));
        assert!(
            v >= at_least,
            "{metric} = {v}, expected at least {at_least}"
        );
    }
}

#[tokio::test]
async fn a_takeover_by_the_same_key_continues_the_session_and_cuts_the_old_connection() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"reconnect_window_seconds": 2})).await;
    let url = stack.rtmp_url("live", &o.key);
    let first = tokio::spawn({
        let url = url.clone();
        async move { ffmpeg_publish(&url, 30).await }
    });
    let live = wait_stream(&o, "live", |s| s["active_session"]["state"] == "live").await;
    let session = live["active_session"]["id"].clone();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The same key again while the first connection is still up (a stale connection, as far as the
    // encoder knows): the new one takes the session over.
    let second = ffmpeg_publish(&url, 4).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let cut = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("the old connection was cut")
        .expect("join");
    assert!(
        String::from_utf8_lossy(&cut.stderr).contains("took over"),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let idle = wait_stream(&o, "idle", |s| s["status"] == "idle").await;
    assert_eq!(idle["active_session"], Value::Null);
    let sessions = o.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["id"], session);
    assert_eq!(sessions[0]["reconnects"], 1);
    assert_eq!(
        stack.sinks.snapshot().len(),
        1,
        "one sink fed by both connections"
    );
}

#[tokio::test]
async fn a_deliberate_stop_ends_the_session_at_once_despite_the_window() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    o.patch(json!({"reconnect_window_seconds": 30})).await;
    // ffmpeg ends a file cleanly: FCUnpublish and deleteStream, as OBS's Stop Streaming does.
    let out = ffmpeg_publish(&stack.rtmp_url("live", &o.key), 3).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stopped = std::time::Instant::now();
    let idle = wait_stream(&o, "idle at once", |s| s["status"] == "idle").await;
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "idle after {:?}, not after the 30 s window",
        stopped.elapsed()
    );
    assert_eq!(idle["active_session"], Value::Null);
    let sessions = o.sessions().await;
    assert_eq!(sessions[0]["end_reason"], "publisher_left", "{sessions:?}");
}
