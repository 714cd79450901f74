//! Bad input gets the right 4xx with problem+json naming the field or the cause; nothing answers 500.

mod common;

use common::{TestApp, fields, problem};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_and_invalid_bodies_name_the_cause() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;

    // Malformed JSON → 400.
    let resp = app
        .as_token(Method::POST, "/v1/streams", &t.token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    let p = problem(resp, 400).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON")
    );

    // Wrong content type → 415.
    let resp = app
        .as_token(Method::POST, "/v1/streams", &t.token)
        .header("content-type", "text/plain")
        .body("{\"name\": \"x\"}")
        .send()
        .await
        .expect("send");
    problem(resp, 415).await;

    // Each invalid body → 422 naming the field(s).
    let long = "x".repeat(101);
    let cases = [
        (json!({"name": "ok", "bogus": 1}), vec!["bogus"]),
        (json!({"name": long}), vec!["name"]),
        (json!({"name": "  "}), vec!["name"]),
        (json!({}), vec!["name"]),
        (json!({"name": 5}), vec!["name"]),
        (
            json!({"name": "ok", "auth_mode": "password"}),
            vec!["auth_mode"],
        ),
        (
            json!({"name": "ok", "limits": {"max_fps": 0}}),
            vec!["limits.max_fps"],
        ),
        (
            json!({"name": "ok", "limits": {"colour": "red"}}),
            vec!["limits.colour"],
        ),
        (
            json!({"name": "ok", "limits": {"video_codecs": ["vp9"]}}),
            vec!["limits.video_codecs[0]"],
        ),
        (
            json!({"name": "ok", "ip_allowlist": ["10.0.0.0/8", "300.1.1.1"]}),
            vec!["ip_allowlist[1]"],
        ),
        (
            json!({"name": "ok", "reconnect_window_seconds": -1}),
            vec!["reconnect_window_seconds"],
        ),
        (
            json!({"name": "", "max_continuous_duration_seconds": 1}),
            vec!["name", "max_continuous_duration_seconds"],
        ),
    ];
    for (body, want) in cases {
        let resp = app
            .as_token(Method::POST, "/v1/streams", &t.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert_eq!(fields(&p), want, "body {body}");
    }

    // Tokens: over-long name, unknown field.
    let resp = app
        .as_token(Method::POST, "/v1/api-tokens", &t.token)
        .json(&json!({"name": "y".repeat(200)}))
        .send()
        .await
        .expect("send");
    assert_eq!(fields(&problem(resp, 422).await), vec!["name"]);

    // Query parameters.
    for (path, field) in [
        ("/v1/streams?limit=0", "limit"),
        ("/v1/streams?limit=101", "limit"),
        ("/v1/streams?cursor=garbage", "cursor"),
        ("/v1/api-tokens?cursor=%7B%7D", "cursor"),
        ("/v1/streams?status=sleeping", "status"),
        ("/v1/streams?colour=red", "colour"),
    ] {
        let resp = app
            .as_token(Method::GET, path, &t.token)
            .send()
            .await
            .expect("send");
        assert_eq!(fields(&problem(resp, 422).await), vec![field], "{path}");
    }

    // Too large a body → 413.
    let resp = app
        .as_token(Method::POST, "/v1/streams", &t.token)
        .json(&json!({"name": "z".repeat(2 << 20)}))
        .send()
        .await
        .expect("send");
    problem(resp, 413).await;
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401_and_unknown_routes_are_404() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let tampered = format!("{}x", &t.token[..t.token.len() - 1]);
    for auth in [
        None,
        Some("Bearer nonsense"),
        Some("Basic abc"),
        Some(&*format!("Bearer {tampered}")),
    ] {
        let mut req = app.req(Method::GET, "/v1/streams");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("send");
        assert!(resp.headers().contains_key("www-authenticate"));
        problem(resp, 401).await;
    }
    // The operator endpoint refuses tenant tokens and no token.
    let resp = app
        .req(Method::POST, "/admin/v1/tenants")
        .bearer_auth(&t.token)
        .json(&json!({"name": "x", "owner_email": "a@b.example", "owner_password": "0123456789"}))
        .send()
        .await
        .expect("send");
    problem(resp, 401).await;
    let resp = app
        .as_token(Method::GET, "/v1/nothing-here", &t.token)
        .send()
        .await
        .expect("send");
    assert_eq!(problem(resp, 404).await["type"], "/problems/no-route");
    let resp = app
        .as_token(Method::PUT, "/v1/streams", &t.token)
        .send()
        .await
        .expect("send");
    problem(resp, 405).await;
}
