//! Session lifecycle across API and ingest: revocation, rotation with `disconnect_active`, disabling
//! and deleting cut a live publisher within 5 s (via the node heartbeat); one live publisher per
//! stream (`already_live`), takeover by the same credentials, and the tenant's concurrent-live quota.

mod common;

use std::time::{Duration, Instant};

use common::{Owner, Stack, ffmpeg_publish};
use serde_json::json;

/// Starts a long ffmpeg publish in the background.
fn publish(stack: &Stack, key: &str, secs: u32) -> tokio::task::JoinHandle<std::process::Output> {
    let url = stack.rtmp_url("live", key);
    tokio::spawn(async move { ffmpeg_publish(&url, secs).await })
}

/// Waits until `n` sessions were opened on the ingest.
async fn wait_sessions(stack: &Stack, n: usize) {
    for _ in 0..200 {
        if stack.sinks.snapshot().len() >= n {
            // Let the session report reach the API.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} sessions never opened");
}

/// Runs `action`, then asserts the publisher was cut within 5 s with `expect` in its log.
async fn assert_cut(
    publisher: tokio::task::JoinHandle<std::process::Output>,
    started: Instant,
    expect: &str,
) {
    let out = tokio::time::timeout(Duration::from_secs(10), publisher)
        .await
        .expect("ffmpeg stops")
        .expect("join");
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(5), "cut after {took:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(expect),
        "the encoder is told why ({expect}): {stderr}"
    );
}

async fn session_end_reasons(stack: &Stack) -> Vec<Option<String>> {
    sqlx::query_scalar("SELECT end_reason FROM publish_sessions ORDER BY started_at")
        .fetch_all(&stack.db)
        .await
        .expect("sessions")
}

#[tokio::test]
async fn revoking_the_key_cuts_the_live_publisher_within_5_s() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    let p = publish(&stack, &o.key, 30);
    wait_sessions(&stack, 1).await;
    assert_eq!(o.stream_status().await, "live");
    let key_id = o.key.split('_').nth(1).expect("id").to_string();
    let started = Instant::now();
    let (status, _) = o
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/streams/{}/keys/{key_id}", o.stream),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_cut(p, started, "This stream key was revoked").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        session_end_reasons(&stack).await,
        vec![Some("key_revoked".to_string())]
    );
    assert_eq!(o.stream_status().await, "idle");
}

#[tokio::test]
async fn rotation_keeps_the_publisher_unless_asked_and_disabling_cuts() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    let p = publish(&stack, &o.key, 30);
    wait_sessions(&stack, 1).await;

    // Rotation without disconnect_active: the live publish goes on (checked over two heartbeats).
    let (status, _) = o
        .call(
            reqwest::Method::POST,
            &format!("/v1/streams/{}/keys", o.stream),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(
        !p.is_finished(),
        "the publisher on the old key keeps publishing"
    );
    // ...but a new publish with the old key is refused.
    let again = ffmpeg_publish(&stack.rtmp_url("live", &o.key), 1).await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("rotated"));

    // Rotation with disconnect_active cuts the publisher on the old key.
    let started = Instant::now();
    let (status, _) = o
        .call(
            reqwest::Method::POST,
            &format!("/v1/streams/{}/keys", o.stream),
            Some(json!({"disconnect_active": true})),
        )
        .await;
    assert_eq!(status, 201);
    assert_cut(p, started, "rotated").await;

    // Disabling cuts a publisher on a current key.
    let (_, keys) = o
        .call(
            reqwest::Method::POST,
            &format!("/v1/streams/{}/keys", o.stream),
            Some(json!({})),
        )
        .await;
    let newest = keys["stream_key"].as_str().expect("key").to_string();
    let p = publish(&stack, &newest, 30);
    wait_sessions(&stack, 2).await;
    let started = Instant::now();
    let (status, _) = o
        .call(
            reqwest::Method::POST,
            &format!("/v1/streams/{}/disable", o.stream),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_cut(p, started, "This stream was disabled").await;
}

#[tokio::test]
async fn deleting_the_stream_cuts_the_publisher() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    let p = publish(&stack, &o.key, 30);
    wait_sessions(&stack, 1).await;
    let started = Instant::now();
    let (status, _) = o
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/streams/{}", o.stream),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_cut(p, started, "This stream was deleted").await;
}

#[tokio::test]
async fn one_live_publisher_per_stream_takeover_by_the_same_key_and_tenant_quota() {
    let stack = Stack::start().await;
    let o = Owner::new(&stack).await;
    // Without a reconnect window a takeover starts a new session (with one, it continues the
    // session: reconnect.rs).
    o.patch(json!({"reconnect_window_seconds": 0})).await;
    let first = publish(&stack, &o.key, 30);
    wait_sessions(&stack, 1).await;

    // Another valid key of the same stream: already_live.
    let (_, rotated) = o
        .call(
            reqwest::Method::POST,
            &format!("/v1/streams/{}/keys", o.stream),
            Some(json!({"grace_seconds": 600})),
        )
        .await;
    let other = rotated["stream_key"].as_str().expect("key").to_string();
    let refused = ffmpeg_publish(&stack.rtmp_url("live", &other), 1).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("Another publisher is live on this stream")
    );

    // The same key again (a reconnecting encoder whose old connection is stale): takes over.
    let started = Instant::now();
    let second = publish(&stack, &o.key, 4);
    assert_cut(first, started, "took over").await;
    let out = second.await.expect("join");
    assert!(out.status.success(), "the takeover publish runs to its end");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reasons = session_end_reasons(&stack).await;
    assert_eq!(reasons[0].as_deref(), Some("takeover"));

    // Tenant quota: one concurrent live stream.
    sqlx::query("UPDATE tenants SET max_concurrent_live = 1")
        .execute(&stack.db)
        .await
        .expect("quota");
    let (_, s2) = o
        .call(
            reqwest::Method::POST,
            "/v1/streams",
            Some(json!({"name": "second"})),
        )
        .await;
    let key2 = s2["stream_key"].as_str().expect("key").to_string();
    let live = publish(&stack, &o.key, 8);
    wait_sessions(&stack, 3).await;
    let refused = ffmpeg_publish(&stack.rtmp_url("live", &key2), 1).await;
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("live streams, its limit"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = live.await.expect("join");
    assert!(out.status.success());
}
