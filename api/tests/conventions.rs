//! API conventions (docs/api.md): Idempotency-Key on creating calls, per-token and per-tenant rate
//! limits with X-RateLimit-* headers and 429 + Retry-After, request ids, Prometheus metrics.

mod common;

use common::{TestApp, fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn idempotency_key_replays_same_request_and_refuses_a_different_one() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let post = |key: &str, body: Value| {
        app.as_token(Method::POST, "/v1/streams", &t.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("key-1", json!({"name": "studio"}))
        .await
        .expect("send");
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("json");

    let again = post("key-1", json!({"name": "studio"}))
        .await
        .expect("send");
    assert_eq!(again.status(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again: Value = again.json().await.expect("json");
    assert_eq!(again, first, "same answer, same stream key");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM streams")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1, "the replay created nothing");

    let different = post("key-1", json!({"name": "other"})).await.expect("send");
    assert_eq!(
        fields(&problem(different, 422).await),
        vec!["Idempotency-Key"]
    );

    // A failed request is not remembered: the same key can be retried once fixed... with the same body.
    let bad = post("key-2", json!({"name": ""})).await.expect("send");
    problem(bad, 422).await;
    let retry = post("key-2", json!({"name": ""})).await.expect("send");
    assert!(retry.headers().get("idempotent-replayed").is_none());
    problem(retry, 422).await;

    // Keys are scoped per tenant: another tenant's identical key is independent.
    let b = app.create_tenant("other").await;
    let resp = app
        .as_token(Method::POST, "/v1/streams", &b.token)
        .header("Idempotency-Key", "key-1")
        .json(&json!({"name": "studio"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().get("idempotent-replayed").is_none());
    let theirs: Value = resp.json().await.expect("json");
    assert_ne!(theirs["stream"]["id"], first["stream"]["id"]);

    // An over-long key is refused, naming the header.
    let resp = post(&"k".repeat(300), json!({"name": "x"}))
        .await
        .expect("send");
    assert_eq!(fields(&problem(resp, 422).await), vec!["Idempotency-Key"]);
}

#[tokio::test]
async fn rate_limits_apply_per_token_and_per_tenant_with_headers() {
    let app = TestApp::start_with(|c| {
        c.rate_limit_per_token = 5;
        c.rate_limit_per_tenant = 8;
    })
    .await;
    let a = app.create_tenant("acme").await;
    let second: Value = app
        .as_token(Method::POST, "/v1/api-tokens", &a.token)
        .json(&json!({"name": "second"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let second = second["token"].as_str().expect("token").to_string();

    // First token: 4 more requests (1 used above), remaining counts down, then 429.
    let mut last_remaining = u32::MAX;
    for _ in 0..4 {
        let resp = app
            .as_token(Method::GET, "/v1/streams", &a.token)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "5");
        let remaining: u32 = resp.headers()["x-ratelimit-remaining"]
            .to_str()
            .expect("h")
            .parse()
            .expect("n");
        assert!(remaining < last_remaining);
        last_remaining = remaining;
    }
    let resp = app
        .as_token(Method::GET, "/v1/streams", &a.token)
        .send()
        .await
        .expect("send");
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("h")
        .parse()
        .expect("n");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    problem(resp, 429).await;

    // The second token has its own bucket, but the tenant's (8) runs out after 3 more.
    for _ in 0..3 {
        let resp = app
            .as_token(Method::GET, "/v1/streams", &second)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
    }
    let resp = app
        .as_token(Method::GET, "/v1/streams", &second)
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers()["x-ratelimit-limit"],
        "8",
        "the tenant limit binds"
    );
    problem(resp, 429).await;

    // Another tenant is unaffected.
    let b = app.create_tenant("other").await;
    let resp = app
        .as_token(Method::GET, "/v1/streams", &b.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn login_is_rate_limited_per_address() {
    let app = TestApp::start_with(|c| c.rate_limit_per_ip = 3).await;
    let body = json!({"email": "x@y.example", "password": "whatever-long"});
    for _ in 0..3 {
        let resp = app
            .req(Method::POST, "/v1/auth/login")
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.headers()["x-ratelimit-limit"], "3");
        problem(resp, 401).await;
    }
    let resp = app
        .req(Method::POST, "/v1/auth/login")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 429).await;
}

#[tokio::test]
async fn health_readiness_request_ids_and_metrics() {
    let app = TestApp::start().await;
    let resp = app.req(Method::GET, "/healthz").send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let resp = app.req(Method::GET, "/readyz").send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.expect("json")["database"], "ok");
    let resp = app
        .req(Method::GET, "/v1/streams")
        .send()
        .await
        .expect("send");
    assert!(resp.headers().contains_key("x-request-id"));
    problem(resp, 401).await;

    let text = app
        .req(Method::GET, "/metrics")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("# TYPE inlet_api_http_requests counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"inlet_api_http_requests_total{method="GET",route="/v1/streams",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("inlet_api_http_request_duration_seconds_bucket"),
        "{text}"
    );

    // Readiness fails when the database goes away.
    app.db.close().await;
    let resp = app.req(Method::GET, "/readyz").send().await.expect("send");
    assert_eq!(resp.status(), 503);
}
