//! Sessions end to end over the internal endpoints and a real database: health figures and warnings
//! on the sessions list, the reconnect window and takeovers as resumes (same session id), node
//! ownership of events, the stream view while reconnecting, `GET /v1/stats` after a scripted mix, and
//! the session series of `/metrics`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Tenant, TestApp, fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

const IP: &str = "198.51.100.7";
const NODE: &str = "test-node";

fn started(allow: &Value) -> DateTime<Utc> {
    allow["session_started_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("session_started_at in {allow}"))
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn health(bitrate: u32, bytes: u64) -> Value {
    json!({"type": "health", "bitrate_kbps": bitrate, "fps": 30.0, "keyframe_interval_ms": 2000,
           "width": 1280, "height": 720, "video_codec": "h264", "audio_codec": "aac",
           "bytes": bytes, "skew_ms": -12})
}

fn violation() -> Value {
    json!({"type": "limits_violation", "limit": "max_height", "configured": "720", "measured": "1080",
           "description": "height 1080 exceeds the limit of 720", "action": "flagged"})
}

async fn get(app: &TestApp, t: &Tenant, path: &str) -> Value {
    let (status, v) = app.call(Method::GET, path, &t.token, None).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

async fn patch(app: &TestApp, t: &Tenant, stream: &str, body: Value) {
    let (status, v) = app
        .call(
            Method::PATCH,
            &format!("/v1/streams/{stream}"),
            &t.token,
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// A live session through its first frame and HLS ready, `ff` and `hls` ms after its start, then
/// ended with `reason`.
async fn session_with_startup(app: &TestApp, key: &str, ff: i64, hls: i64, reason: &str) {
    let a = app.authorize_live(key, IP).await;
    assert_eq!(a["decision"], "allow", "{a}");
    assert_eq!(a["resumed"], false);
    let t0 = started(&a);
    app.event(&a, NODE, json!({"type": "connected"})).await;
    app.event_at(&a, NODE, t0 + ms(ff), json!({"type": "first_frame"}))
        .await;
    app.event_at(
        &a,
        NODE,
        t0 + ms(hls),
        json!({"type": "hls_ready", "hls_url": "http://hls.example/hls/x/index.m3u8"}),
    )
    .await;
    app.end_session(&a, reason).await;
}

struct Scripted {
    app: TestApp,
    t: Tenant,
}

/// The scripted mix: 4 sessions on one stream (first frame after 100..400 ms, HLS ready after
/// 1..4 s, two of them dropped), 3 wrong secrets, 1 wrong app, 1 disabled-stream refusal, and a
/// second stream that breaks a limit, drops and comes back within its window (still live).
async fn scripted() -> Scripted {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (_, key1) = app.create_stream(&t.token, "one").await;
    let (s2, key2) = app.create_stream(&t.token, "two").await;
    for (i, reason) in [
        "network_error",
        "publisher_left",
        "idle_timeout",
        "publisher_left",
    ]
    .iter()
    .enumerate()
    {
        let i = i as i64 + 1;
        session_with_startup(&app, &key1, 100 * i, 1000 * i, reason).await;
    }
    let wrong = format!("{}AAAA", &key1[..key1.len() - 4]);
    for _ in 0..3 {
        assert_eq!(
            app.authorize_live(&wrong, IP).await["reason_code"],
            "invalid_key"
        );
    }
    assert_eq!(
        app.authorize("livee", &key1, IP).await["reason_code"],
        "unknown_app"
    );
    let s2 = id(&s2);
    let (st, _) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{s2}/disable"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.authorize_live(&key2, IP).await["reason_code"],
        "stream_disabled"
    );
    let (st, _) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{s2}/enable"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let a = app.authorize_live(&key2, IP).await;
    app.event(&a, NODE, json!({"type": "connected"})).await;
    app.event(&a, NODE, violation()).await;
    app.event(
        &a,
        NODE,
        json!({"type": "disconnected", "reason": "network_error"}),
    )
    .await;
    let back = app.authorize_live(&key2, IP).await;
    assert_eq!(back["session_id"], a["session_id"]);
    assert_eq!(back["resumed"], true);
    app.event(&back, NODE, json!({"type": "connected", "resumed": true}))
        .await;
    Scripted { app, t }
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-6)
}

#[tokio::test]
async fn stats_count_the_scripted_mix_exactly() {
    let Scripted { app, t } = scripted().await;
    let s = get(&app, &t, "/v1/stats").await;
    let a = &s["publish_attempts"];
    assert_eq!(a["total"], 11, "{s}");
    assert_eq!(a["accepted"], 6, "{s}");
    assert_eq!(a["refused"], 5, "{s}");
    assert!(close(&a["success_rate"], 6.0 / 11.0), "{s}");
    assert_eq!(
        s["refusals_by_reason"],
        json!({"invalid_key": 3, "unknown_app": 1, "stream_disabled": 1})
    );
    assert_eq!(s["auth_failures"], 3);
    assert_eq!(
        s["sessions"],
        json!({"started": 5, "ended": 4, "reconnects": 1, "drops": 2, "limits_violations": 1})
    );
    // percentile_cont over 100, 200, 300, 400 ms: p50 = 250, p95 = 300 + 0.85 × 100.
    let ff = &s["time_to_first_frame_ms"];
    assert_eq!(ff["count"], 4);
    assert!(close(&ff["p50"], 250.0) && close(&ff["p95"], 385.0), "{ff}");
    let hls = &s["time_to_hls_ready_ms"];
    assert_eq!(hls["count"], 4);
    assert!(
        close(&hls["p50"], 2500.0) && close(&hls["p95"], 3850.0),
        "{hls}"
    );
    assert_eq!(s["live_now"], 1);
    assert_eq!(s["reconnecting_now"], 0);
    let from = DateTime::parse_from_rfc3339(s["from"].as_str().expect("from")).expect("from");
    let to = DateTime::parse_from_rfc3339(s["to"].as_str().expect("to")).expect("to");
    assert_eq!(to - from, chrono::Duration::hours(24), "default range");

    // A range before it all: zeros, no rate, no percentiles.
    let early = get(
        &app,
        &t,
        "/v1/stats?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
    )
    .await;
    assert_eq!(early["publish_attempts"]["total"], 0);
    assert_eq!(early["publish_attempts"]["success_rate"], Value::Null);
    assert_eq!(early["refusals_by_reason"], json!({}));
    assert_eq!(early["time_to_first_frame_ms"]["p50"], Value::Null);
    assert_eq!(early["time_to_first_frame_ms"]["count"], 0);
    assert_eq!(early["live_now"], 1, "live now whatever the range");
    // An offset written with %2B parses too.
    let offset = get(
        &app,
        &t,
        "/v1/stats?from=2020-01-01T00:00:00%2B02:00&to=2020-01-02T00:00:00Z",
    )
    .await;
    assert_eq!(offset["from"], "2019-12-31T22:00:00Z");

    for (query, field) in [
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("bogus=1", "bogus"),
    ] {
        let resp = app
            .as_token(Method::GET, &format!("/v1/stats?{query}"), &t.token)
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert_eq!(fields(&p), vec![field], "{query}: {p}");
    }
}

fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn metrics_expose_session_series_without_ids() {
    let Scripted { app, .. } = scripted().await;
    let text = app
        .req(Method::GET, "/metrics")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let m = parse_metrics(&text);
    let want = [
        ("inlet_api_live_sessions", 1.0),
        ("inlet_api_reconnecting_sessions", 0.0),
        (r#"inlet_api_session_events_total{type="connected"}"#, 6.0),
        (r#"inlet_api_session_events_total{type="first_frame"}"#, 4.0),
        (r#"inlet_api_session_events_total{type="hls_ready"}"#, 4.0),
        (
            r#"inlet_api_session_events_total{type="disconnected"}"#,
            1.0,
        ),
        (
            r#"inlet_api_session_events_total{type="limits_violation"}"#,
            1.0,
        ),
        (r#"inlet_api_session_events_total{type="ended"}"#, 4.0),
        (
            r#"inlet_api_sessions_ended_total{reason="network_error"}"#,
            1.0,
        ),
        (
            r#"inlet_api_sessions_ended_total{reason="publisher_left"}"#,
            2.0,
        ),
        (
            r#"inlet_api_sessions_ended_total{reason="idle_timeout"}"#,
            1.0,
        ),
        ("inlet_api_reconnects_total", 1.0),
        (
            r#"inlet_api_limits_violations_total{limit="max_height",action="flagged"}"#,
            1.0,
        ),
        ("inlet_api_time_to_first_frame_seconds_count", 4.0),
        ("inlet_api_time_to_first_frame_seconds_sum", 1.0),
        ("inlet_api_time_to_hls_ready_seconds_count", 4.0),
        ("inlet_api_time_to_hls_ready_seconds_sum", 10.0),
        (
            r#"inlet_api_time_to_first_frame_seconds_bucket{le="0.25"}"#,
            2.0,
        ),
    ];
    for (name, value) in want {
        let got = m.get(name).copied();
        assert!(
            got.is_some_and(|g| (g - value).abs() < 1e-9),
            "{name}: {got:?}\n{text}"
        );
    }
    // No stream or session id in any label.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM publish_sessions UNION ALL SELECT id::text FROM streams",
    )
    .fetch_all(&app.db)
    .await
    .expect("ids");
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| !text.contains(id.as_str())));
}

#[tokio::test]
async fn sessions_list_shows_health_figures_and_warnings_newest_first_paginated() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio").await;
    let stream = id(&s);

    // 1: two health reports (one retried), ended. 2: a flagged limit, ended. 3: live.
    let one = app.authorize_live(&key, IP).await;
    let t1 = started(&one);
    app.event(&one, NODE, json!({"type": "connected"})).await;
    app.event_at(&one, NODE, t1 + ms(250), json!({"type": "first_frame"}))
        .await;
    app.event_at(&one, NODE, t1 + ms(5000), health(3000, 1000))
        .await;
    app.event_at(&one, NODE, t1 + ms(5000), health(3000, 1000))
        .await;
    app.event_at(&one, NODE, t1 + ms(10_000), health(5000, 2000))
        .await;
    // From another node: not this session's node, ignored.
    app.event_at(
        &one,
        "other-node",
        t1 + ms(12_000),
        health(90_000, 9_000_000),
    )
    .await;
    app.end_session(&one, "publisher_left").await;

    let two = app.authorize_live(&key, IP).await;
    app.event(&two, NODE, json!({"type": "connected"})).await;
    app.event(&two, NODE, health(4000, 500)).await;
    let vt = Utc::now();
    app.event_at(&two, NODE, vt, violation()).await;
    app.event_at(&two, NODE, vt, violation()).await;
    app.end_session(&two, "limits_violation").await;

    let three = app.authorize_live(&key, IP).await;
    app.event(&three, NODE, json!({"type": "connected"})).await;

    // The stream view: live, no health yet; then the latest figures.
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["status"], "live");
    assert_eq!(view["active_session"]["state"], "live");
    assert_eq!(view["active_session"]["health"], Value::Null);
    assert_eq!(view["active_session"]["reconnects"], 0);
    app.event(&three, NODE, health(6000, 700)).await;
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    let h = &view["active_session"]["health"];
    assert_eq!(h["bitrate_kbps"], 6000, "{view}");
    assert_eq!(h["bytes"], 700);
    assert_eq!(h["width"], 1280);
    assert_eq!(h["video_codec"], "h264");
    assert_eq!(h["skew_ms"], -12);

    let page1 = get(&app, &t, &format!("/v1/streams/{stream}/sessions?limit=2")).await;
    let rows = page1["data"].as_array().expect("data");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], three["session_id"]);
    assert_eq!(rows[0]["state"], "live");
    assert_eq!(rows[1]["id"], two["session_id"]);
    assert_eq!(rows[1]["state"], "ended");
    assert_eq!(rows[1]["end_reason"], "limits_violation");
    let w = rows[1]["warnings"].as_array().expect("warnings");
    assert_eq!(w.len(), 1, "a retried violation is one warning: {w:?}");
    assert_eq!(w[0]["limit"], "max_height");
    assert_eq!(w[0]["configured"], "720");
    assert_eq!(w[0]["measured"], "1080");
    assert_eq!(w[0]["action"], "flagged");
    assert_eq!(w[0]["description"], "height 1080 exceeds the limit of 720");
    let cursor = page1["next_cursor"].as_str().expect("more").to_string();

    let page2 = get(
        &app,
        &t,
        &format!("/v1/streams/{stream}/sessions?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page2["next_cursor"], Value::Null);
    let rows = page2["data"].as_array().expect("data");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["id"], one["session_id"]);
    assert_eq!(r["state"], "ended");
    assert_eq!(r["end_reason"], "publisher_left");
    assert_eq!(r["avg_bitrate_kbps"], 4000, "{r}");
    assert_eq!(r["peak_bitrate_kbps"], 5000);
    assert_eq!(r["bytes"], 2000);
    assert_eq!(r["width"], 1280);
    assert_eq!(r["height"], 720);
    assert_eq!(r["fps"], 30.0);
    assert_eq!(r["keyframe_interval_ms"], 2000);
    assert_eq!(r["video_codec"], "h264");
    assert_eq!(r["audio_codec"], "aac");
    assert_eq!(r["time_to_first_frame_ms"], 250);
    assert_eq!(r["time_to_hls_ready_ms"], Value::Null);
    assert_eq!(r["reconnects"], 0);
    assert_eq!(r["node_id"], NODE);
    assert_eq!(r["warnings"], json!([]));

    // The health series, oldest first, paginated.
    let path = format!("/v1/streams/{stream}/sessions/{}/health", id_of(&one));
    let all = get(&app, &t, &path).await;
    let points: Vec<i64> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["bitrate_kbps"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(points, vec![3000, 5000]);
    assert_eq!(all["next_cursor"], Value::Null);
    let first = get(&app, &t, &format!("{path}?limit=1")).await;
    assert_eq!(first["data"][0]["bitrate_kbps"], 3000);
    let c = first["next_cursor"].as_str().expect("more");
    let next = get(&app, &t, &format!("{path}?limit=1&cursor={c}")).await;
    assert_eq!(next["data"][0]["bitrate_kbps"], 5000);
    assert_eq!(next["next_cursor"], Value::Null);
    let resp = app
        .as_token(Method::GET, &format!("{path}?limit=0"), &t.token)
        .send()
        .await
        .expect("send");
    assert_eq!(fields(&problem(resp, 422).await), vec!["limit"]);
    // A session of another stream of the tenant is not found under this one.
    let (other, _) = app.create_stream(&t.token, "other").await;
    let resp = app
        .as_token(
            Method::GET,
            &format!("/v1/streams/{}/sessions/{}/health", id(&other), id_of(&one)),
            &t.token,
        )
        .send()
        .await
        .expect("send");
    problem(resp, 404).await;
}

fn id_of(allow: &Value) -> String {
    allow["session_id"]
        .as_str()
        .expect("session id")
        .to_string()
}

#[tokio::test]
async fn reconnect_within_the_window_continues_the_session_and_after_it_starts_a_new_one() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio").await;
    let stream = id(&s);
    let url = "http://hls.example/hls/p/index.m3u8";

    let first = app.authorize_live(&key, IP).await;
    assert_eq!(first["resumed"], false);
    app.event(&first, NODE, json!({"type": "connected"})).await;
    app.event(&first, NODE, json!({"type": "hls_ready", "hls_url": url}))
        .await;
    app.event(
        &first,
        NODE,
        json!({"type": "disconnected", "reason": "network_error"}),
    )
    .await;

    // While the publisher is away the stream stays live on the session, with its playback URL.
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["status"], "live", "{view}");
    assert_eq!(view["playback"]["hls_url"], url);
    assert_eq!(view["active_session"]["id"], first["session_id"]);
    assert_eq!(view["active_session"]["state"], "reconnecting");
    assert!(view["active_session"]["disconnected_at"].is_string());
    let listed = get(&app, &t, "/v1/streams?status=live").await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    // The node still reports it (parked): it is not ended as unreported.
    assert!(app.heartbeat(NODE, &[&first]).await.is_empty());

    // Back within the window, with another valid key even: the same session.
    let (st, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{stream}/keys"),
            &t.token,
            Some(json!({"grace_seconds": 600})),
        )
        .await;
    assert_eq!(st, 201);
    let new_key = rotated["stream_key"].as_str().expect("key").to_string();
    let back = app.authorize_live(&new_key, IP).await;
    assert_eq!(back["decision"], "allow", "{back}");
    assert_eq!(back["session_id"], first["session_id"]);
    assert_eq!(back["resumed"], true);
    assert_eq!(back["session_started_at"], first["session_started_at"]);
    assert_eq!(back["playback_id"], first["playback_id"]);
    app.event(&back, NODE, json!({"type": "connected", "resumed": true}))
        .await;
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["active_session"]["state"], "live");
    assert_eq!(view["active_session"]["reconnects"], 1);
    assert_eq!(view["active_session"]["disconnected_at"], Value::Null);
    assert_eq!(view["playback"]["hls_url"], url);
    let sessions = get(&app, &t, &format!("/v1/streams/{stream}/sessions")).await;
    assert_eq!(sessions["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(sessions["data"][0]["reconnects"], 1);
    assert_eq!(
        sessions["data"][0]["key_id"],
        new_key.split('_').nth(1).expect("key id")
    );
    // Live again: another key is a second publisher.
    assert_eq!(
        app.authorize_live(&key, IP).await["reason_code"],
        "already_live"
    );

    // After the window: the old session ends with why it dropped, and a new one starts.
    patch(&app, &t, &stream, json!({"reconnect_window_seconds": 1})).await;
    app.event(
        &back,
        NODE,
        json!({"type": "disconnected", "reason": "idle_timeout"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = app.authorize_live(&new_key, IP).await;
    assert_eq!(fresh["decision"], "allow", "{fresh}");
    assert_ne!(fresh["session_id"], first["session_id"]);
    assert_eq!(fresh["resumed"], false);
    let sessions = get(&app, &t, &format!("/v1/streams/{stream}/sessions")).await;
    let old = &sessions["data"][1];
    assert_eq!(old["id"], first["session_id"]);
    assert_eq!(old["state"], "ended");
    assert_eq!(old["end_reason"], "idle_timeout");
    assert_eq!(sessions["data"][0]["state"], "live");
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["active_session"]["id"], fresh["session_id"]);
    assert_eq!(view["playback"], Value::Null, "a new session, no HLS yet");
}

#[tokio::test]
async fn takeover_continues_the_session_and_cuts_only_the_old_node() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio").await;
    let stream = id(&s);

    let a = app.authorize_on("node-a", &key, IP).await;
    app.event(&a, "node-a", json!({"type": "connected"})).await;
    // Same node, same key: the ingest swaps the connection itself; nothing to cut.
    let again = app.authorize_on("node-a", &key, IP).await;
    assert_eq!(again["session_id"], a["session_id"]);
    assert_eq!(again["resumed"], true);
    assert!(app.heartbeat("node-a", &[&a]).await.is_empty());

    // Another node: the session moves there and node-a is told to cut its connection.
    let b = app.authorize_on("node-b", &key, IP).await;
    assert_eq!(b["session_id"], a["session_id"]);
    assert_eq!(b["resumed"], true);
    app.event(&b, "node-b", json!({"type": "connected", "resumed": true}))
        .await;
    let session = id_of(&a);
    assert_eq!(
        app.heartbeat("node-a", &[&a]).await,
        vec![(session.clone(), "takeover".to_string())]
    );
    assert!(app.heartbeat("node-b", &[&b]).await.is_empty());

    // node-a's late reports change nothing.
    app.event(
        &a,
        "node-a",
        json!({"type": "disconnected", "reason": "kicked:takeover"}),
    )
    .await;
    app.end_session_on(&a, "node-a", "kicked:takeover").await;
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["status"], "live", "{view}");
    assert_eq!(view["active_session"]["id"], session.as_str());
    assert_eq!(view["active_session"]["state"], "live");
    assert_eq!(view["active_session"]["node_id"], "node-b");
    assert_eq!(view["active_session"]["reconnects"], 2);
    // node-a no longer reports it; it is node-b's, so it is not ended as node_restarted.
    sqlx::query("UPDATE publish_sessions SET resumed_at = resumed_at - interval '1 minute'")
        .execute(&app.db)
        .await
        .expect("age");
    assert!(app.heartbeat("node-a", &[]).await.is_empty());
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["status"], "live");

    // Back to node-a later: the old cut is not replayed there.
    let again_a = app.authorize_on("node-a", &key, IP).await;
    assert_eq!(again_a["session_id"], a["session_id"]);
    let cut_b = app.heartbeat("node-b", &[&b]).await;
    assert_eq!(cut_b, vec![(session.clone(), "takeover".to_string())]);
    assert!(app.heartbeat("node-a", &[&again_a]).await.is_empty());

    // A stream-wide cut still reaches the resumed connection.
    let (st, _) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{stream}/keys"),
            &t.token,
            Some(json!({"disconnect_active": true})),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(
        app.heartbeat("node-a", &[&again_a]).await,
        vec![(session.clone(), "key_rotated".to_string())]
    );

    // The current node's end ends it.
    app.end_session_on(&a, "node-a", "kicked:key_rotated").await;
    let view = get(&app, &t, &format!("/v1/streams/{stream}")).await;
    assert_eq!(view["status"], "idle");
    let sessions = get(&app, &t, &format!("/v1/streams/{stream}/sessions")).await;
    assert_eq!(sessions["data"][0]["end_reason"], "kicked:key_rotated");
    assert_eq!(sessions["data"][0]["reconnects"], 3);
}

#[tokio::test]
async fn a_session_whose_publisher_never_returns_is_ended_by_the_api() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio").await;
    let stream = id(&s);
    let a = app.authorize_live(&key, IP).await;
    app.event(&a, NODE, json!({"type": "connected"})).await;
    app.event(
        &a,
        NODE,
        json!({"type": "disconnected", "reason": "network_error"}),
    )
    .await;
    // As if the window and its grace had passed without the ingest's `ended`.
    sqlx::query("UPDATE publish_sessions SET disconnected_at = now() - interval '1 hour'")
        .execute(&app.db)
        .await
        .expect("age");
    let mut status = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        status = get(&app, &t, &format!("/v1/streams/{stream}")).await["status"].clone();
        if status == "idle" {
            break;
        }
    }
    assert_eq!(status, "idle");
    let sessions = get(&app, &t, &format!("/v1/streams/{stream}/sessions")).await;
    assert_eq!(sessions["data"][0]["end_reason"], "network_error");
}
