//! Tenant isolation: tenant B using tenant A's ids gets 404 on every tenant-owned endpoint, exactly
//! like an unknown id, and lists never show A's rows. Later endpoints join by adding a row to `CASES`.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

/// A tenant-owned endpoint: method, path template (`{stream}`, `{token}` are A's ids), body.
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
        c(Method::DELETE, "/v1/streams/{stream}", None),
        c(Method::DELETE, "/v1/api-tokens/{token}", None),
    ]
}

/// List endpoints and how to find an id in their rows.
const LISTS: &[&str] = &["/v1/streams", "/v1/api-tokens", "/v1/streams?status=idle"];

#[tokio::test]
async fn foreign_ids_answer_404_like_unknown_ids_and_lists_stay_private() {
    let app = TestApp::start().await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let (stream_a, _) = app.create_stream(&a.token, "a-stream").await;
    let stream_id = stream_a["id"].as_str().expect("id").to_string();
    let (_stream_b, _) = app.create_stream(&b.token, "b-stream").await;

    for case in cases() {
        for (label, stream, token) in [
            ("foreign", stream_id.as_str(), a.token_id.as_str()),
            (
                "unknown",
                "01a211ba-0000-7000-8000-000000000000",
                "ZZZZZZZZZZ",
            ),
            ("malformed", "not-a-uuid", "x"),
        ] {
            let path = case
                .path
                .replace("{stream}", stream)
                .replace("{token}", token);
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

    // A's rows are intact after B's attempts.
    let resp = app
        .as_token(Method::GET, &format!("/v1/streams/{stream_id}"), &a.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["name"], "a-stream");
    assert_eq!(body["status"], "idle");
    let resp = app
        .as_token(Method::GET, "/v1/me", &a.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "A's token still works");

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
        assert!(
            !body["data"].as_array().expect("data").is_empty(),
            "{list} shows B's own rows"
        );
    }
}
