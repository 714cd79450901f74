//! Events of a real publish at a real webhook receiver (docs/webhooks.md): ffmpeg publishes to the
//! ingest, and the receiver gets `stream.connected`, `stream.active` (whose `hls_url` ffprobe
//! plays while the stream is live), `stream.disconnected` and `stream.idle`, in `sequence` order
//! with no gap; ffmpeg with a wrong secret on the stream's key produces `stream.rejected` with its
//! reason; a rotation produces `stream.key_rotated`.

mod common;

use std::time::Duration;

use common::{Stack, ffmpeg_publish};
use inlet_testsupport::receiver::Receiver;
use serde_json::{Value, json};

async fn call(
    stack: &Stack,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let resp = stack
        .http
        .request(method, format!("{}{path}", stack.api))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

fn of_stream(rx: &Receiver, stream: &str) -> Vec<Value> {
    let mut events: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["stream_id"].as_str() == Some(stream))
        .collect();
    events.sort_by_key(|e| e["sequence"].as_i64().unwrap_or(0));
    events.dedup_by_key(|e| e["id"].as_str().unwrap_or("").to_string());
    events
}

#[tokio::test]
async fn a_real_publish_produces_its_events_in_sequence_order() {
    if !common::have("ffmpeg") || !common::have("ffprobe") {
        panic!("ffmpeg and ffprobe are required (.ci/run installs them)");
    }
    let stack = Stack::start_hls(|_| {}).await;
    let (token, stream_id, key) = stack.stream().await;
    let rx = Receiver::start().await;
    let created = call(
        &stack,
        &token,
        reqwest::Method::POST,
        "/v1/webhooks",
        json!({"url": rx.url}),
    )
    .await;
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    // A short reconnect window, so the drop is reported before the end.
    call(
        &stack,
        &token,
        reqwest::Method::PATCH,
        &format!("/v1/streams/{stream_id}"),
        json!({"reconnect_window_seconds": 2}),
    )
    .await;

    let url = stack.rtmp_url("live", &key);
    let publisher = tokio::spawn(async move { ffmpeg_publish(&url, 8).await });
    let active = rx
        .wait_type("stream.active", Duration::from_secs(20))
        .await
        .json();
    let hls_url = active["data"]["hls_url"]
        .as_str()
        .expect("hls_url")
        .to_string();
    assert_eq!(
        active["data"]["stream"]["playback"]["hls_url"],
        hls_url.as_str()
    );
    // The URL in the event plays.
    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            &hls_url,
        ])
        .output()
        .await
        .expect("ffprobe runs");
    let codecs = String::from_utf8_lossy(&probe.stdout).to_string();
    assert!(
        probe.status.success(),
        "ffprobe {hls_url}: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    let out = publisher.await.expect("join");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    rx.wait_type("stream.idle", Duration::from_secs(20)).await;

    let events = of_stream(&rx, &stream_id);
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap_or(0))
        .collect();
    // stream.created (1) was written before the webhook existed; everything after it arrived.
    assert_eq!(
        seqs,
        (2..=seqs.len() as i64 + 1).collect::<Vec<_>>(),
        "gapless from 2: {seqs:?}"
    );
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    let lifecycle: Vec<&str> = types
        .iter()
        .copied()
        .filter(|t| {
            matches!(
                *t,
                "stream.connected" | "stream.active" | "stream.disconnected" | "stream.idle"
            )
        })
        .collect();
    assert_eq!(
        lifecycle,
        vec![
            "stream.connected",
            "stream.active",
            "stream.disconnected",
            "stream.idle"
        ],
        "all: {types:?}"
    );
    assert_eq!(types[0], "stream.updated", "the window change");
    let connected = events
        .iter()
        .find(|e| e["type"] == "stream.connected")
        .expect("connected");
    assert_eq!(connected["data"]["resumed"], false);
    let idle = events
        .iter()
        .find(|e| e["type"] == "stream.idle")
        .expect("idle");
    assert_eq!(idle["data"]["end_reason"], "publisher_left");
    assert_eq!(idle["data"]["stream"]["status"], "idle");
    assert!(
        idle["data"]["session"]["duration_seconds"]
            .as_f64()
            .is_some_and(|d| d > 5.0),
        "{idle}"
    );
    assert_eq!(idle["session_id"], connected["session_id"]);

    // A wrong secret on the stream's key id, from ffmpeg: refused, and the stream is told.
    let last = key.chars().last().expect("char");
    let wrong = format!(
        "{}{}",
        &key[..key.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let out = ffmpeg_publish(&stack.rtmp_url("live", &wrong), 2).await;
    assert!(!out.status.success(), "a wrong key is refused");
    let rejected = rx
        .wait_type("stream.rejected", Duration::from_secs(10))
        .await
        .json();
    assert_eq!(rejected["data"]["reason_code"], "invalid_key");
    assert_eq!(rejected["stream_id"].as_str(), Some(stream_id.as_str()));

    // Rotation.
    call(
        &stack,
        &token,
        reqwest::Method::POST,
        &format!("/v1/streams/{stream_id}/keys"),
        json!({"grace_seconds": 0}),
    )
    .await;
    rx.wait_type("stream.key_rotated", Duration::from_secs(10))
        .await;
    let events = of_stream(&rx, &stream_id);
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        seqs,
        (2..=seqs.len() as i64 + 1).collect::<Vec<_>>(),
        "still gapless: {seqs:?}"
    );
    // The replay API has the first one too.
    let replay = call(
        &stack,
        &token,
        reqwest::Method::GET,
        &format!("/v1/events?stream_id={stream_id}&limit=1"),
        Value::Null,
    )
    .await;
    assert_eq!(replay["data"][0]["type"], "stream.created");
    assert_eq!(replay["data"][0]["sequence"], 1);
    stack.shutdown();
}
