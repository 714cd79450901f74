//! Events and webhooks over a real API, a real PostgreSQL and real HTTP receivers
//! (docs/webhooks.md): the endpoint API and its validation, events written with the changes they
//! describe (gapless per-stream sequence, stream.rejected coalesced per minute), signatures checked
//! with an independent verifier (the `standardwebhooks` crate, and HMAC by hand for
//! `Inlet-Signature`) across a secret rotation, replay, redelivery and recovery, `410 Gone`,
//! redirects not followed, and the SSRF table.

mod common;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use common::receiver::{Received, Receiver, Reply};
use common::{TestApp, fields, problem};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(15);

async fn dev_app() -> TestApp {
    TestApp::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = "1s,1s,1s,1s".into();
        c.webhook_poll_ms = 200;
    })
    .await
}

fn headers_of(r: &Received) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    h
}

/// Verifies with the independent Standard Webhooks implementation.
fn standard_ok(secret: &str, r: &Received) -> bool {
    let wh = standardwebhooks::Webhook::new(secret).expect("secret accepted by standardwebhooks");
    wh.verify(&r.body, &headers_of(r)).is_ok()
}

/// Verifies `Inlet-Signature: t=..,v1=..` by hand: HMAC-SHA256(secret text, "<t>.<body>") in hex.
fn inlet_ok(secret: &str, r: &Received) -> bool {
    let header = r.header("inlet-signature");
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sigs.contains(&want)
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_stream_change_reaches_the_receiver_signed_and_verifiable() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::start().await;
    let (hook, secret) = app
        .create_webhook(&t.token, json!({"url": rx.url, "description": "backend"}))
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["events"], Value::Null);
    assert_eq!(hook["ordering"], "none");
    // The secret is never listed again.
    let (_, list) = app.call(Method::GET, "/v1/webhooks", &t.token, None).await;
    assert!(!list.to_string().contains(&secret));

    let (stream, _) = app.create_stream(&t.token, "studio").await;
    let got = rx.wait_type("stream.created", WAIT).await;
    let body = got.json();
    assert_eq!(body["stream_id"], stream["id"]);
    assert_eq!(
        body["object"],
        json!({"type": "stream", "id": stream["id"]})
    );
    assert_eq!(body["sequence"], 1);
    assert_eq!(body["tenant_id"].as_str(), Some(t.id.as_str()));
    assert_eq!(body["data"]["stream"]["name"], "studio");
    assert_eq!(body["data"]["stream"]["status"], "idle");
    assert!(body["id"].as_str().is_some_and(|i| i.starts_with("evt_")));
    assert_eq!(got.header("webhook-id"), body["id"].as_str().unwrap_or(""));
    assert_eq!(got.header("content-type"), "application/json");
    assert!(standard_ok(&secret, &got), "standardwebhooks verifies");
    assert!(inlet_ok(&secret, &got), "Inlet-Signature verifies");

    // A tampered body fails both.
    let mut tampered = got.clone();
    let mut b = tampered.body.to_vec();
    b.extend_from_slice(b" ");
    tampered.body = b.into();
    assert!(!standard_ok(&secret, &tampered));
    assert!(!inlet_ok(&secret, &tampered));
    // Another secret fails.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(!standard_ok(other, &got));
    // A correctly signed message with an old timestamp fails the verifier's tolerance.
    let old = chrono::Utc::now().timestamp() - 3600;
    let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
    let sig = wh
        .sign(got.header("webhook-id"), old, &got.body)
        .expect("sign");
    let mut h = headers_of(&got);
    h.insert("webhook-timestamp", HeaderValue::from(old));
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&sig).expect("hv"),
    );
    assert!(
        wh.verify(&got.body, &h).is_err(),
        "an hour-old timestamp is refused"
    );

    // The event is in the replay API, the same as delivered.
    let (status, ev) = app
        .call(
            Method::GET,
            &format!("/v1/events/{}", body["id"].as_str().unwrap_or("")),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ev, body);
    // The deliveries log shows the attempt.
    let hook_id = id(&hook);
    let log = wait_log(&app, &t.token, &hook_id, |d| !d.is_empty()).await;
    assert_eq!(log[0]["event_type"], "stream.created");
    assert_eq!(log[0]["succeeded"], true);
    assert_eq!(log[0]["status_code"], 204);
    assert_eq!(log[0]["delivery_status"], "succeeded");
}

async fn wait_log(
    app: &TestApp,
    token: &str,
    hook: &str,
    done: impl Fn(&Vec<Value>) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, page) = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{hook}/deliveries?limit=100"),
                token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().cloned().unwrap_or_default();
        if done(&data) {
            return data;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries log: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_grace_and_only_the_new_after() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::start().await;
    let (hook, old) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    let hook_id = id(&hook);
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/rotate-secret"),
            &t.token,
            Some(json!({"grace_seconds": 3600})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_string();
    assert_ne!(new, old);
    assert!(rotated["webhook"]["previous_secret_expires_at"].is_string());
    app.create_stream(&t.token, "one").await;
    let got = rx.wait_type("stream.created", WAIT).await;
    assert_eq!(got.header("webhook-signature").split(' ').count(), 2);
    assert!(
        standard_ok(&old, &got),
        "the old secret still verifies during the grace"
    );
    assert!(standard_ok(&new, &got), "the new secret verifies");
    assert!(inlet_ok(&old, &got) && inlet_ok(&new, &got));

    // A rotation without grace: only the newest secret signs.
    let (_, again) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/rotate-secret"),
            &t.token,
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    let newest = again["secret"].as_str().expect("secret").to_string();
    app.create_stream(&t.token, "two").await;
    let got = rx
        .wait_for(WAIT, "second stream.created", |r| {
            r.iter()
                .filter(|x| x.json()["type"] == "stream.created")
                .count()
                == 2
        })
        .await
        .into_iter()
        .rfind(|x| x.json()["type"] == "stream.created")
        .expect("second");
    assert_eq!(got.header("webhook-signature").split(' ').count(), 1);
    assert!(standard_ok(&newest, &got));
    assert!(
        !standard_ok(&new, &got),
        "the previous secret no longer verifies"
    );
    assert!(!standard_ok(&old, &got));
    assert!(inlet_ok(&newest, &got) && !inlet_ok(&new, &got));

    // Rotations are audited, secrets never appear there.
    let (_, audit) = app.call(Method::GET, "/v1/audit-log", &t.token, None).await;
    let text = audit.to_string();
    assert!(text.contains("webhook.secret_rotated") && text.contains("webhook.created"));
    assert!(!text.contains(&old) && !text.contains(&new) && !text.contains(&newest));
}

#[tokio::test]
async fn sequences_are_per_stream_and_gapless_and_filters_apply() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let all = Receiver::start().await;
    let only = Receiver::start().await;
    let (s1, _) = app.create_stream(&t.token, "one").await;
    let (s2, _) = app.create_stream(&t.token, "two").await;
    app.create_webhook(&t.token, json!({"url": all.url})).await;
    app.create_webhook(
        &t.token,
        json!({"url": only.url, "events": ["stream.updated"], "stream_ids": [s2["id"]]}),
    )
    .await;
    for (s, n) in [(&s1, 3), (&s2, 2)] {
        for i in 0..n {
            let (status, _) = app
                .call(
                    Method::PATCH,
                    &format!("/v1/streams/{}", id(s)),
                    &t.token,
                    Some(json!({"name": format!("renamed-{i}")})),
                )
                .await;
            assert_eq!(status, 200);
        }
    }
    // Disable and enable: their own events, not stream.updated.
    app.call(
        Method::POST,
        &format!("/v1/streams/{}/disable", id(&s1)),
        &t.token,
        None,
    )
    .await;
    app.call(
        Method::POST,
        &format!("/v1/streams/{}/enable", id(&s1)),
        &t.token,
        None,
    )
    .await;
    let got = all.wait_for(WAIT, "seven events", |r| r.len() >= 7).await;
    let mut seq1: Vec<i64> = got
        .iter()
        .filter(|r| r.json()["stream_id"] == s1["id"])
        .map(|r| r.json()["sequence"].as_i64().unwrap_or(0))
        .collect();
    seq1.sort();
    // s1: created before the webhooks existed (1), 3 updates, disabled, enabled.
    assert_eq!(seq1, vec![2, 3, 4, 5, 6]);
    let types: Vec<String> = got
        .iter()
        .filter(|r| r.json()["stream_id"] == s1["id"])
        .map(|r| r.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        types.contains(&"stream.disabled".to_string())
            && types.contains(&"stream.enabled".to_string())
    );
    let filtered = only
        .wait_for(WAIT, "two updates of s2", |r| r.len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let filtered_now = only.received();
    assert_eq!(
        filtered_now.len(),
        2,
        "only s2's updates: {}",
        filtered.len()
    );
    for r in &filtered_now {
        assert_eq!(r.json()["type"], "stream.updated");
        assert_eq!(r.json()["stream_id"], s2["id"]);
        assert_eq!(r.json()["data"]["changed"], json!(["name"]));
    }

    // Replay: oldest first, paged with `after`, filters by stream and type.
    let (_, page) = app
        .call(
            Method::GET,
            &format!("/v1/events?stream_id={}&limit=2", id(&s1)),
            &t.token,
            None,
        )
        .await;
    let first: Vec<i64> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(first, vec![1, 2]);
    let after = page["next_cursor"].as_str().expect("more").to_string();
    let (_, rest) = app
        .call(
            Method::GET,
            &format!("/v1/events?stream_id={}&after={after}&limit=100", id(&s1)),
            &t.token,
            None,
        )
        .await;
    let rest: Vec<i64> = rest["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(rest, vec![3, 4, 5, 6]);
    let (_, typed) = app
        .call(
            Method::GET,
            "/v1/events?type=stream.disabled",
            &t.token,
            None,
        )
        .await;
    assert_eq!(typed["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn publish_decisions_and_key_changes_are_events() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::start().await;
    app.create_webhook(&t.token, json!({"url": rx.url})).await;
    let (stream, key) = app.create_stream(&t.token, "studio").await;
    let sid = id(&stream);
    // A wrong secret on a real key id: refused as invalid_key, on the stream; three of them in a
    // minute make one event whose count grows.
    let (key_id, _) = key
        .strip_prefix("sk_")
        .and_then(|k| k.split_once('_'))
        .expect("key shape");
    let last = key.chars().last().expect("char");
    let wrong = format!(
        "{}{}",
        &key[..key.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for _ in 0..3 {
        let v = app.authorize("live", &wrong, "192.0.2.7").await;
        assert_eq!(v["reason_code"], "invalid_key", "{v}");
    }
    let rejected = rx.wait_type("stream.rejected", WAIT).await.json();
    assert_eq!(rejected["data"]["reason_code"], "invalid_key");
    assert_eq!(rejected["stream_id"].as_str(), Some(sid.as_str()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, replay) = app
        .call(
            Method::GET,
            "/v1/events?type=stream.rejected",
            &t.token,
            None,
        )
        .await;
    let rows = replay["data"].as_array().expect("data");
    let coalesced: Vec<&Value> = rows
        .iter()
        .filter(|e| e["data"]["reason_code"] == "invalid_key")
        .collect();
    assert_eq!(
        coalesced.len(),
        1,
        "one event per stream, reason and minute"
    );
    assert_eq!(coalesced[0]["data"]["count"], 3);

    // An accepted publish: connected, then the reports: active, disconnected, idle.
    let allow = app.authorize_live(&key, "192.0.2.8").await;
    assert_eq!(allow["decision"], "allow");
    app.event(
        &allow,
        "test-node",
        json!({"type": "connected", "resumed": false}),
    )
    .await;
    app.event(
        &allow,
        "test-node",
        json!({"type": "hls_ready", "hls_url": "http://cdn.example/hls/x/index.m3u8"}),
    )
    .await;
    app.event(
        &allow,
        "test-node",
        json!({"type": "disconnected", "reason": "network_error"}),
    )
    .await;
    // A repeated report writes nothing new.
    app.event(
        &allow,
        "test-node",
        json!({"type": "disconnected", "reason": "network_error"}),
    )
    .await;
    app.end_session(&allow, "reconnect_window_elapsed").await;
    app.end_session(&allow, "reconnect_window_elapsed").await;
    let got = rx.wait_type("stream.idle", WAIT).await;
    let idle = got.json();
    assert_eq!(idle["data"]["end_reason"], "reconnect_window_elapsed");
    assert_eq!(idle["data"]["stream"]["status"], "idle");
    assert_eq!(idle["session_id"], allow["session_id"]);
    let mut life: Vec<(i64, String)> = rx
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["stream_id"].as_str() == Some(sid.as_str()))
        .map(|j| {
            (
                j["sequence"].as_i64().unwrap_or(0),
                j["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    life.sort();
    let names: Vec<&str> = life.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "stream.created",
            "stream.rejected",
            "stream.connected",
            "stream.active",
            "stream.disconnected",
            "stream.idle"
        ]
    );
    let seqs: Vec<i64> = life.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<i64>>(), "gapless");
    let active = rx.wait_type("stream.active", WAIT).await.json();
    assert_eq!(
        active["data"]["hls_url"],
        "http://cdn.example/hls/x/index.m3u8"
    );
    assert_eq!(active["data"]["stream"]["status"], "live");

    // Rotation and revocation.
    let (status, rot) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{sid}/keys"),
            &t.token,
            Some(json!({"grace_seconds": 60})),
        )
        .await;
    assert_eq!(status, 201);
    let rotated = rx.wait_type("stream.key_rotated", WAIT).await.json();
    assert_eq!(rotated["data"]["key"]["id"], rot["key"]["id"]);
    assert_eq!(rotated["data"]["grace_seconds"], 60);
    assert!(
        !rotated
            .to_string()
            .contains(rot["stream_key"].as_str().unwrap_or("-")),
        "no key in events"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/streams/{sid}/keys/{key_id}"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let revoked = rx.wait_type("stream.key_revoked", WAIT).await.json();
    assert_eq!(revoked["data"]["key_id"], key_id);
    // Deleting the stream: the last event carries the stream as it was.
    app.call(
        Method::DELETE,
        &format!("/v1/streams/{sid}"),
        &t.token,
        None,
    )
    .await;
    let deleted = rx.wait_type("stream.deleted", WAIT).await.json();
    assert_eq!(deleted["data"]["stream"]["name"], "studio");
}

#[tokio::test]
async fn test_call_answers_synchronously_and_gone_disables_the_endpoint() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::with(|r, _| {
        let kind = r.json()["type"].as_str().unwrap_or("").to_string();
        let mut reply = Reply::status(if kind == "webhook.test" { 200 } else { 410 });
        reply.body = format!("got {kind}");
        reply
    })
    .await;
    let watcher = Receiver::start().await;
    let (hook, _) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    app.create_webhook(
        &t.token,
        json!({"url": watcher.url, "events": ["webhook.disabled"]}),
    )
    .await;
    let hook_id = id(&hook);
    let (status, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/test"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["succeeded"], true);
    assert_eq!(test["status_code"], 200);
    assert_eq!(test["response_body"], "got webhook.test");
    assert!(test["latency_ms"].as_i64().is_some());
    // Not retried, in the log.
    let log = wait_log(&app, &t.token, &hook_id, |d| !d.is_empty()).await;
    assert_eq!(log[0]["event_type"], "webhook.test");

    // 410 Gone on a real event disables the endpoint, with webhook.disabled to the others.
    app.create_stream(&t.token, "s").await;
    let disabled = watcher.wait_type("webhook.disabled", WAIT).await.json();
    assert_eq!(
        disabled["object"],
        json!({"type": "webhook", "id": hook_id})
    );
    assert!(
        disabled["data"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("410")
    );
    let (_, now) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{hook_id}"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(now["enabled"], false);
    assert!(
        now["disabled_reason"]
            .as_str()
            .unwrap_or("")
            .contains("410")
    );
    let (_, audit) = app.call(Method::GET, "/v1/audit-log", &t.token, None).await;
    assert!(audit.to_string().contains("webhook.disabled"));
    // Nothing more goes there while disabled.
    let before = rx.received().len();
    app.create_stream(&t.token, "s2").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.received().len(), before);

    // Re-enabled and recovered: what it missed since the start is queued again.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{hook_id}"),
            &t.token,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let (status, q) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/recover"),
            &t.token,
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(status, 202, "{q}");
    assert_eq!(
        q["queued"], 3,
        "two stream.created and the other endpoint's webhook.disabled: {q}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_redeliver_sends_the_same_event_id() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::with(|_, before| {
        if before == 0 {
            let mut r = Reply::status(429);
            r.headers.push(("retry-after", "2".into()));
            r
        } else {
            Reply::status(200)
        }
    })
    .await;
    let (hook, _) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    app.create_stream(&t.token, "s").await;
    let got = rx.wait_for(WAIT, "two tries", |r| r.len() >= 2).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "waited {gap:?}, Retry-After was 2 s"
    );
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    let event = got[0].event_id();
    let (status, q) = app
        .call(
            Method::POST,
            &format!("/v1/events/{event}/redeliver"),
            &t.token,
            Some(json!({"webhook_id": id(&hook)})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(q["queued"], 1);
    let again = rx.wait_for(WAIT, "a redelivery", |r| r.len() >= 3).await;
    assert_eq!(again[2].event_id(), event);
    assert_eq!(again[2].header("webhook-id"), event);
}

#[tokio::test]
async fn redirects_are_failures_and_are_not_followed() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let target = Receiver::start().await;
    let target_url = target.url.clone();
    let rx = Receiver::with(move |_, _| {
        let mut r = Reply::status(302);
        r.headers.push(("location", target_url.clone()));
        r
    })
    .await;
    let (hook, _) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    let (_, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{}/test", id(&hook)),
            &t.token,
            None,
        )
        .await;
    assert_eq!(test["succeeded"], false);
    assert_eq!(test["status_code"], 302);
    assert!(
        test["error"]
            .as_str()
            .unwrap_or("")
            .contains("redirects are not followed"),
        "{test}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        target.received().is_empty(),
        "the redirect target got nothing"
    );
}

#[tokio::test]
async fn private_destinations_are_refused_without_the_development_switch() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost/x",
        "https://user:pass@hooks.example.com/x",
    ] {
        let resp = app
            .as_token(Method::POST, "/v1/webhooks", &t.token)
            .json(&json!({"url": url}))
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert_eq!(fields(&p), vec!["url"], "{url}: {p}");
    }
    // A name that passes the creation check but resolves to loopback (the machine's own name in
    // /etc/hosts, as containers and VMs have) is refused at delivery, and nothing connects there.
    let (name, ip) =
        loopback_name().expect("a name other than localhost mapped to loopback in /etc/hosts");
    let trap = tokio::net::TcpListener::bind((ip, 0))
        .await
        .expect("bind loopback");
    let port = trap.local_addr().expect("addr").port();
    let (hook, _) = app
        .create_webhook(&t.token, json!({"url": format!("https://{name}:{port}/x")}))
        .await;
    let (_, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{}/test", id(&hook)),
            &t.token,
            None,
        )
        .await;
    assert_eq!(test["succeeded"], false);
    assert!(
        test["error"].as_str().unwrap_or("").contains("refused"),
        "{test}"
    );
    assert!(test["status_code"].is_null());
    let accepted = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(
        accepted.is_err(),
        "nothing connected to the loopback listener"
    );
    // An address literal that reached the table anyway (rules changed) is refused at delivery.
    sqlx::query("UPDATE webhooks SET url = 'https://127.0.0.1:9/x' WHERE id = $1::uuid")
        .bind(id(&hook))
        .execute(&app.db)
        .await
        .expect("update");
    let (_, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{}/test", id(&hook)),
            &t.token,
            None,
        )
        .await;
    assert!(
        test["error"].as_str().unwrap_or("").contains("refused"),
        "{test}"
    );
}

#[tokio::test]
async fn bad_webhook_input_names_the_field() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::start().await;
    let cases = [
        (
            json!({"url": rx.url, "events": ["stream.nope"]}),
            "events[0]",
        ),
        (json!({"url": "not a url"}), "url"),
        (json!({}), "url"),
        (
            json!({"url": rx.url, "description": "x".repeat(501)}),
            "description",
        ),
        (
            json!({"url": rx.url, "stream_ids": ["01a211ba-0000-7000-8000-000000000000"]}),
            "stream_ids[0]",
        ),
        (json!({"url": rx.url, "ordering": "sometimes"}), "ordering"),
        (json!({"url": rx.url, "events": []}), "events"),
    ];
    for (body, field) in cases {
        let resp = app
            .as_token(Method::POST, "/v1/webhooks", &t.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert!(fields(&p).contains(&field.to_string()), "{body}: {p}");
    }
    let (hook, _) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    let resp = app
        .as_token(
            Method::POST,
            &format!("/v1/webhooks/{}/rotate-secret", id(&hook)),
            &t.token,
        )
        .json(&json!({"grace_seconds": 604_801}))
        .send()
        .await
        .expect("send");
    let p = problem(resp, 422).await;
    assert_eq!(fields(&p), vec!["grace_seconds"]);
    for (path, field) in [
        ("/v1/events?type=stream.nope", "type"),
        ("/v1/events?after=evt_unknown", "after"),
        ("/v1/events?stream_id=nope", "stream_id"),
    ] {
        let resp = app
            .as_token(Method::GET, path, &t.token)
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert_eq!(fields(&p), vec![field], "{path}");
    }
    // PATCH with an explicit null resets a filter to "all".
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", id(&hook)),
            &t.token,
            Some(json!({"events": ["stream.idle"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["events"], json!(["stream.idle"]));
    let (_, patched) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", id(&hook)),
            &t.token,
            Some(json!({"events": null, "ordering": "per_stream"})),
        )
        .await;
    assert_eq!(patched["events"], Value::Null);
    assert_eq!(patched["ordering"], "per_stream");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{}", id(&hook)),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{}", id(&hook)),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let (_, secret) = app
        .create_webhook(&t.token, json!({"url": "http://127.0.0.1:9/x"}))
        .await;
    let dump: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT secret_sealed FROM webhooks")
        .fetch_all(&app.db)
        .await
        .expect("select");
    let raw = secret.trim_start_matches("whsec_");
    for (sealed,) in dump {
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains(raw) && !text.contains(&secret));
    }
}

/// A host name in /etc/hosts, other than localhost, that maps to a loopback address.
fn loopback_name() -> Option<(String, std::net::IpAddr)> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut parts = line.split('#').next()?.split_whitespace();
        let ip: std::net::IpAddr = parts.next()?.parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        parts
            .find(|n| {
                *n != "localhost" && !n.ends_with(".localhost") && !n.ends_with(".localdomain")
            })
            .map(|n| (n.to_string(), ip))
    })
}

#[tokio::test]
async fn health_limits_and_metrics_are_reported() {
    let app = dev_app().await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::start().await;
    app.create_webhook(&t.token, json!({"url": rx.url})).await;
    let (_, key) = app.create_stream(&t.token, "studio").await;
    let allow = app.authorize_live(&key, "192.0.2.9").await;
    let health = |bitrate: u32| {
        json!({"type": "health", "bitrate_kbps": bitrate, "fps": 30.0, "keyframe_interval_ms": 2000,
               "width": 1280, "height": 720, "video_codec": "h264", "audio_codec": "aac",
               "bytes": 1000, "skew_ms": 0})
    };
    // The default limit is 12,000 kbit/s.
    app.event(&allow, "test-node", health(3000)).await;
    app.event(&allow, "test-node", health(20_000)).await;
    let bad = rx.wait_type("stream.unhealthy", WAIT).await.json();
    assert_eq!(bad["data"]["figure"], "max_bitrate_kbps");
    assert_eq!(bad["data"]["measured"], "20000");
    assert_eq!(bad["data"]["configured"], "12000");
    // Still out of range: nothing new; back in: healthy.
    app.event(&allow, "test-node", health(21_000)).await;
    app.event(&allow, "test-node", health(4000)).await;
    let good = rx.wait_type("stream.healthy", WAIT).await.json();
    assert_eq!(good["data"]["figure"], "max_bitrate_kbps");
    assert_eq!(good["data"]["measured"], "4000");
    let unhealthy = rx
        .received()
        .iter()
        .filter(|r| r.json()["type"] == "stream.unhealthy")
        .count();
    assert_eq!(unhealthy, 1);
    app.event(
        &allow,
        "test-node",
        json!({"type": "limits_violation", "limit": "max_keyframe_interval_ms", "configured": "4000",
               "measured": "8300", "description": "keyframe interval 8.3 s exceeds the limit of 4.0 s",
               "action": "flagged"}),
    )
    .await;
    let v = rx.wait_type("stream.limits_violation", WAIT).await.json();
    assert_eq!(v["data"]["limit"], "max_keyframe_interval_ms");
    assert_eq!(v["data"]["action"], "flagged");
    let metrics = app
        .req(Method::GET, "/metrics")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("inlet_api_webhook_deliveries_total{result=\"succeeded\"}"),
        "{metrics}"
    );
    for name in [
        "inlet_api_webhook_attempt_duration_seconds_count",
        "inlet_api_webhook_delivery_latency_seconds_count",
        "inlet_api_webhook_outbox_backlog",
        "inlet_api_webhook_outbox_oldest_age_seconds",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_and_old_events_expire() {
    let app = TestApp::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = "1s,1s,1s,1s,1s,1s,1s,1s".into();
        c.webhook_poll_ms = 200;
        c.webhook_disable_after_secs = 2;
    })
    .await;
    let t = app.create_tenant("acme").await;
    let rx = Receiver::with(|_, _| Reply::status(500)).await;
    let watcher = Receiver::start().await;
    let (hook, _) = app.create_webhook(&t.token, json!({"url": rx.url})).await;
    app.create_webhook(
        &t.token,
        json!({"url": watcher.url, "events": ["webhook.disabled"]}),
    )
    .await;
    app.create_stream(&t.token, "s").await;
    let disabled = watcher.wait_type("webhook.disabled", WAIT).await.json();
    assert_eq!(disabled["object"]["id"], hook["id"]);
    assert!(
        disabled["data"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("failed"),
        "{disabled}"
    );
    let tries = rx.received().len();
    assert!(
        (3..=5).contains(&tries),
        "about 2 s of 1 s retries: {tries}"
    );

    // Retention: events older than the configured days are deleted with their deliveries.
    sqlx::query("UPDATE events SET created_at = now() - interval '31 days'")
        .execute(&app.db)
        .await
        .expect("age events");
    let ctx = inlet_api::context::ApiContext::new(app.db.clone(), {
        let mut c = inlet_api::ApiConfig::defaults();
        c.secret_key = Some("k".into());
        c
    });
    let removed = inlet_api::worker::retention::sweep_once(&ctx)
        .await
        .expect("sweep");
    assert!(removed >= 2, "{removed}");
    let (_, page) = app.call(Method::GET, "/v1/events", &t.token, None).await;
    assert_eq!(page["data"], json!([]));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
}
