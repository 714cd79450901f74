//! Authentication (docs/api.md): operator bootstrap, dashboard login with an HttpOnly cookie and
//! CSRF on writes, logout, API tokens (secret shown once, listed without it, revocable, last used),
//! optional open sign-up.

mod common;

use common::{PASSWORD, TestApp, problem};
use inlet_api::config::Signup;
use reqwest::Method;
use serde_json::{Value, json};

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.req(Method::POST, "/v1/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("send")
}

fn cookie_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string()
}

#[tokio::test]
async fn operator_bootstrap_answers_tenant_owner_and_token_once() {
    let app = TestApp::start().await;
    let resp = app
        .req(Method::POST, "/admin/v1/tenants")
        .bearer_auth(&app.admin_token)
        .json(
            &json!({"name": "acme", "owner_email": "ops@acme.example", "owner_password": PASSWORD}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["tenant"]["name"], "acme");
    assert_eq!(body["owner"]["email"], "ops@acme.example");
    let token = body["api_token"]["token"].as_str().expect("token");
    assert!(token.starts_with(body["api_token"]["prefix"].as_str().expect("prefix")));
    assert_eq!(body["api_token"]["name"], "initial");

    // The same email cannot own a second tenant.
    let resp = app
        .req(Method::POST, "/admin/v1/tenants")
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "other", "owner_email": "OPS@acme.example", "owner_password": PASSWORD}))
        .send()
        .await
        .expect("send");
    problem(resp, 409).await;

    // The token works and lists itself without its secret.
    let resp = app
        .as_token(Method::GET, "/v1/api-tokens", token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert!(list["data"][0].get("token").is_none());
    assert!(
        list["data"][0]["last_used_at"].is_string(),
        "last_used_at recorded"
    );
    assert!(!list.to_string().contains(token));
}

#[tokio::test]
async fn login_sets_httponly_cookie_and_writes_need_csrf() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;

    let resp = login(&app, &t.email, "wrong password!").await;
    problem(resp, 401).await;
    let resp = login(&app, "nobody@nowhere.example", PASSWORD).await;
    problem(resp, 401).await;

    let resp = login(&app, &t.email.to_uppercase(), PASSWORD).await;
    assert_eq!(resp.status(), 200, "email is case-insensitive");
    let set_cookie = cookie_of(&resp);
    assert!(set_cookie.starts_with("inlet_session=ses_"));
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Lax"));
    assert!(!set_cookie.contains("Secure"), "plain http in tests");
    let cookie = set_cookie.split(';').next().expect("pair").to_string();
    let body: Value = resp.json().await.expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();
    assert_eq!(body["tenant"]["id"], t.id.as_str());

    // Reads work with the cookie alone.
    let resp = app
        .req(Method::GET, "/v1/me")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.expect("json");
    assert_eq!(me["user"]["email"], t.email.as_str());
    assert_eq!(me["csrf_token"], csrf.as_str());

    // Writes without or with a wrong CSRF token are refused; with it they pass.
    for header in [None, Some("0000")] {
        let mut req = app
            .req(Method::POST, "/v1/streams")
            .header("cookie", &cookie)
            .json(&json!({"name": "from-dashboard"}));
        if let Some(h) = header {
            req = req.header("x-csrf-token", h);
        }
        problem(req.send().await.expect("send"), 403).await;
    }
    let resp = app
        .req(Method::POST, "/v1/streams")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from-dashboard"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);

    // Logout ends the session server-side: the old cookie no longer works.
    let resp = app
        .req(Method::POST, "/v1/auth/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    assert!(cookie_of(&resp).contains("Max-Age=0"));
    let resp = app
        .req(Method::GET, "/v1/me")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    problem(resp, 401).await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_listed_and_revoked() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let resp = app
        .as_token(Method::POST, "/v1/api-tokens", &t.token)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.expect("json");
    let ci = created["token"].as_str().expect("token").to_string();
    let ci_id = created["id"].as_str().expect("id").to_string();
    assert!(ci.starts_with("inlet_"));

    let list: Value = app
        .as_token(Method::GET, "/v1/api-tokens", &ci)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["ci", "initial"], "newest first");
    assert!(!list.to_string().contains(&ci));

    let resp = app
        .as_token(Method::DELETE, &format!("/v1/api-tokens/{ci_id}"), &t.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    problem(
        app.as_token(Method::GET, "/v1/me", &ci)
            .send()
            .await
            .expect("send"),
        401,
    )
    .await;
    let resp = app
        .as_token(Method::DELETE, &format!("/v1/api-tokens/{ci_id}"), &t.token)
        .send()
        .await
        .expect("send");
    problem(resp, 404).await;
}

#[tokio::test]
async fn signup_is_closed_by_default_and_open_when_configured() {
    let body = json!({"tenant_name": "indie", "email": "me@indie.example", "password": PASSWORD});
    let closed = TestApp::start().await;
    let resp = closed
        .req(Method::POST, "/v1/auth/signup")
        .json(&body)
        .send()
        .await
        .expect("send");
    problem(resp, 403).await;

    let open = TestApp::start_with(|c| c.signup = Signup::Open).await;
    let resp = open
        .req(Method::POST, "/v1/auth/signup")
        .json(&json!({"tenant_name": "indie", "email": "bad", "password": "short"}))
        .send()
        .await
        .expect("send");
    let p = problem(resp, 422).await;
    assert_eq!(common::fields(&p), vec!["email", "password"]);
    let resp = open
        .req(Method::POST, "/v1/auth/signup")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    assert!(cookie_of(&resp).starts_with("inlet_session="));
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["tenant"]["name"], "indie");
    let resp = login(&open, "me@indie.example", PASSWORD).await;
    assert_eq!(resp.status(), 200);
}
