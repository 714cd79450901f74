//! Tenant isolation: tenant B using tenant A's ids gets 404 on every tenant-owned endpoint, exactly
//! like an unknown id, and lists never show A's rows. Later endpoints join by adding a row to `CASES`.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

/// A tenant-owned endpoint: method, path template (`{stream}`, `{key}`, `{token}`, `{signing_key}`,
/// `{session}`, `{webhook}`, `{event}`, `{member}` are A's ids), body.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<Value>,
}

fn cases() -> Vec<Case> {
    let c = |method: Method, path: &'static str, body: Option<Value>| Case { method, path, body };
    vec![
        c(Method::GET, "/v1/streams/{stream}", None),
        c(
            Method::PATCH,
            "/v1/streams/{stream}",
            Some(json!({"name": "stolen"})),
        ),
        c(Method::POST, "/v1/streams/{stream}/disable", None),
        c(Method::POST, "/v1/streams/{stream}/enable", None),
        c(Method::GET, "/v1/streams/{stream}/keys", None),
        c(
            Method::POST,
            "/v1/streams/{stream}/keys",
            Some(json!({"grace_seconds": 0})),
        ),
        c(Method::DELETE, "/v1/streams/{stream}/keys/{key}", None),
        c(
            Method::POST,
            "/v1/streams/{stream}/publish-tokens",
            Some(json!({"ttl_seconds": 60})),
        ),
        c(Method::GET, "/v1/streams/{stream}/attempts", None),
        c(Method::GET, "/v1/streams/{stream}/sessions", None),
        c(
            Method::GET,
            "/v1/streams/{stream}/sessions/{session}/health",
            None,
        ),
        c(Method::DELETE, "/v1/signing-keys/{signing_key}", None),
        c(Method::DELETE, "/v1/api-tokens/{token}", None),
        c(Method::GET, "/v1/webhooks/{webhook}", None),
        c(
            Method::PATCH,
            "/v1/webhooks/{webhook}",
            Some(json!({"enabled": false})),
        ),
        c(
            Method::POST,
            "/v1/webhooks/{webhook}/rotate-secret",
            Some(json!({"grace_seconds": 0})),
        ),
        c(Method::POST, "/v1/webhooks/{webhook}/test", None),
        c(Method::GET, "/v1/webhooks/{webhook}/deliveries", None),
        c(
            Method::POST,
            "/v1/webhooks/{webhook}/recover",
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
        ),
        c(Method::GET, "/v1/events/{event}", None),
        c(
            Method::POST,
            "/v1/events/{event}/redeliver",
            Some(json!({})),
        ),
        c(Method::DELETE, "/v1/webhooks/{webhook}", None),
        c(
            Method::PATCH,
            "/v1/members/{member}",
            Some(json!({"role": "viewer"})),
        ),
        c(Method::POST, "/v1/members/{member}/password-reset", None),
        c(Method::DELETE, "/v1/members/{member}", None),
        // Last: deleting would make later rows test an unknown id rather than a foreign one.
        c(Method::DELETE, "/v1/streams/{stream}", None),
    ]
}

/// List endpoints and how to find an id in their rows.
const LISTS: &[&str] = &[
    "/v1/streams",
    "/v1/api-tokens",
    "/v1/streams?status=idle",
    "/v1/signing-keys",
    "/v1/audit-log",
    "/v1/ip-allowlist",
    "/v1/stats",
    "/v1/webhooks",
    "/v1/events",
    "/v1/members",
];

#[tokio::test]
async fn foreign_ids_answer_404_like_unknown_ids_and_lists_stay_private() {
    // No delivery worker: the endpoints below point at a name that is never resolved.
    let app = TestApp::start_with(|c| c.webhook_concurrency = 0).await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let (stream_a, key_a) = app.create_stream(&a.token, "a-stream").await;
    let stream_id = stream_a["id"].as_str().expect("id").to_string();
    // A publish session of A's, with a health report.
    let live_a = app.authorize_live(&key_a, "192.0.2.1").await;
    assert_eq!(live_a["decision"], "allow", "{live_a}");
    let session_a = live_a["session_id"].as_str().expect("session").to_string();
    let resp = app
        .req(Method::POST, "/internal/v1/sessions/events")
        .bearer_auth(common::NODE_SECRET)
        .json(&json!({"events": [{
            "session_id": session_a, "stream_id": stream_id, "tenant_id": a.id, "node_id": "test-node",
            "at": chrono::Utc::now(), "type": "health", "bitrate_kbps": 3000, "fps": 30.0,
            "keyframe_interval_ms": 2000, "width": 1280, "height": 720, "video_codec": "h264",
            "audio_codec": "aac", "bytes": 1000, "skew_ms": 0}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    let key_a = key_a.split('_').nth(1).expect("key id").to_string();
    let (_stream_b, _) = app.create_stream(&b.token, "b-stream").await;
    // A few rows of every kind for both tenants.
    for t in [&a, &b] {
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/signing-keys",
                &t.token,
                Some(json!({"name": "k"})),
            )
            .await;
        assert_eq!(status, 201);
        let (status, _) = app
            .call(
                Method::PUT,
                "/v1/ip-allowlist",
                &t.token,
                Some(json!({"ip_allowlist": []})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut hooks = Vec::new();
    for t in [&a, &b] {
        let (hook, _) = app
            .create_webhook(&t.token, json!({"url": "https://hooks.example.com/inlet"}))
            .await;
        hooks.push(hook["id"].as_str().expect("webhook id").to_string());
    }
    let webhook_a = hooks[0].clone();
    let (_, events_a) = app.call(Method::GET, "/v1/events", &a.token, None).await;
    let event_a = events_a["data"][0]["id"]
        .as_str()
        .expect("an event of A's")
        .to_string();
    let (_, a_keys) = app
        .call(Method::GET, "/v1/signing-keys", &a.token, None)
        .await;
    let signing_a = a_keys["data"][0]["id"].as_str().expect("kid").to_string();
    // A member of A's besides its owner (the owner is the last one and could not be removed anyway).
    let (status, invited) = app
        .call(
            Method::POST,
            "/v1/members",
            &a.token,
            Some(json!({"email": "hire@tenant-a.example", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let member_a = invited["member"]["id"]
        .as_str()
        .expect("member")
        .to_string();
    app.authorize(
        "live",
        &format!("sk_{key_a}_wrongwrongwrongwrongwrongwrongwr"),
        "192.0.2.1",
    )
    .await;

    for case in cases() {
        for (label, stream, key, token, signing_key, session, webhook, event, member) in [
            (
                "foreign",
                stream_id.as_str(),
                key_a.as_str(),
                a.token_id.as_str(),
                signing_a.as_str(),
                session_a.as_str(),
                webhook_a.as_str(),
                event_a.as_str(),
                member_a.as_str(),
            ),
            (
                "unknown",
                "01a211ba-0000-7000-8000-000000000000",
                "ZZZZZZZZZZ",
                "ZZZZZZZZZZ",
                "tk_ZZZZZZZZZZ",
                "01a211ba-0000-7000-8000-000000000001",
                "01a211ba-0000-7000-8000-000000000002",
                "evt_00000000000000000000000000000000",
                "01a211ba-0000-7000-8000-000000000003",
            ),
            ("malformed", "not-a-uuid", "x", "x", "x", "x", "x", "x", "x"),
        ] {
            let path = case
                .path
                .replace("{stream}", stream)
                .replace("{session}", session)
                .replace("{key}", key)
                .replace("{token}", token)
                .replace("{signing_key}", signing_key)
                .replace("{webhook}", webhook)
                .replace("{event}", event)
                .replace("{member}", member);
            let mut req = app.as_token(case.method.clone(), &path, &b.token);
            if let Some(body) = &case.body {
                req = req.json(body);
            }
            let resp = req.send().await.expect("send");
            let p = problem(resp, 404).await;
            assert_eq!(
                p["type"], "/problems/not-found",
                "{label} {} {path}",
                case.method
            );
        }
    }

    // A's rows are intact after B's attempts (the stream delete was the last row, so check keys,
    // tokens and the audit log).
    let resp = app
        .as_token(Method::GET, &format!("/v1/streams/{stream_id}"), &a.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["name"], "a-stream");
    assert_eq!(body["status"], "live");
    let resp = app
        .as_token(Method::GET, "/v1/me", &a.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "A's token still works");
    let (_, keys) = app
        .call(
            Method::GET,
            &format!("/v1/streams/{stream_id}/keys"),
            &a.token,
            None,
        )
        .await;
    assert_eq!(
        keys["data"].as_array().map(Vec::len),
        Some(1),
        "B rotated nothing of A's"
    );
    assert_eq!(
        keys["data"][0]["status"], "active",
        "B revoked nothing of A's"
    );
    let (_, sk) = app
        .call(Method::GET, "/v1/signing-keys", &a.token, None)
        .await;
    assert_eq!(
        sk["data"][0]["revoked_at"],
        Value::Null,
        "B revoked no signing key of A's"
    );
    let (_, members) = app.call(Method::GET, "/v1/members", &a.token, None).await;
    let roles: Vec<&str> = members["data"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, vec!["viewer", "owner"], "B changed no member of A's");
    let (_, log) = app.call(Method::GET, "/v1/audit-log", &a.token, None).await;
    let entries = log["data"].as_array().expect("audit data");
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] != format!("token:{}", b.token_id))
    );

    // B's figures count none of A's attempts or sessions; A's do.
    let (_, stats_b) = app.call(Method::GET, "/v1/stats", &b.token, None).await;
    assert_eq!(stats_b["publish_attempts"]["total"], 0, "{stats_b}");
    assert_eq!(stats_b["sessions"]["started"], 0, "{stats_b}");
    assert_eq!(stats_b["live_now"], 0, "{stats_b}");
    let (_, stats_a) = app.call(Method::GET, "/v1/stats", &a.token, None).await;
    assert_eq!(stats_a["sessions"]["started"], 1, "{stats_a}");

    for list in LISTS {
        let resp = app
            .as_token(Method::GET, list, &b.token)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "{list}");
        let body: Value = resp.json().await.expect("json");
        let text = body.to_string();
        assert!(!text.contains(&stream_id), "{list} shows A's stream");
        assert!(!text.contains(&a.token_id), "{list} shows A's token");
        assert!(!text.contains("a-stream"), "{list} shows A's stream name");
        assert!(!text.contains(&signing_a), "{list} shows A's signing key");
        assert!(!text.contains(&a.id), "{list} shows A's tenant id");
        assert!(!text.contains(&webhook_a), "{list} shows A's webhook");
        assert!(!text.contains(&event_a), "{list} shows A's event");
        assert!(!text.contains(&member_a), "{list} shows A's member");
        assert!(!text.contains(&a.email), "{list} shows A's owner");
        if let Some(rows) = body["data"].as_array() {
            assert!(!rows.is_empty(), "{list} shows B's own rows");
        }
    }
}
