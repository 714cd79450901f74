//! Team members with roles and password resets: an invite answers a one-time link that sets the
//! member's password; a viewer only reads; an admin cannot touch owners; the last owner stays;
//! removing a member ends their sessions and revokes their tokens; reset links work once and for
//! 24 h; the operator can reset a locked-out owner; every change is audited without the token.

mod common;

use common::{PASSWORD, TestApp, fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new passphrase";
const VIEWER_ONLY: &str = "Your role (viewer) can only read; ask an owner or admin";

/// A logged-in dashboard session.
struct Session {
    cookie: String,
    csrf: String,
    user_id: String,
}

fn session_of(resp_cookie: &str, body: &Value) -> Session {
    Session {
        cookie: resp_cookie
            .split(';')
            .next()
            .expect("cookie pair")
            .to_string(),
        csrf: body["csrf_token"].as_str().expect("csrf").to_string(),
        user_id: body["user"]["id"].as_str().expect("user id").to_string(),
    }
}

fn set_cookie(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string()
}

async fn login_raw(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.req(Method::POST, "/v1/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("send")
}

async fn login(app: &TestApp, email: &str, password: &str) -> Session {
    let resp = login_raw(app, email, password).await;
    assert_eq!(resp.status(), 200, "login {email}");
    let cookie = set_cookie(&resp);
    let body: Value = resp.json().await.expect("json");
    session_of(&cookie, &body)
}

/// Calls the API with a session (and its CSRF token); answers (status, body).
async fn as_session(
    app: &TestApp,
    s: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .req(method, path)
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn use_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.req(Method::POST, "/v1/auth/password-reset")
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .expect("send")
}

/// Sets a password with a reset token; answers the session it opens.
async fn accept(app: &TestApp, token: &str, password: &str) -> Session {
    let resp = use_reset(app, token, password).await;
    assert_eq!(resp.status(), 200, "reset accepted");
    let cookie = set_cookie(&resp);
    assert!(cookie.contains("HttpOnly"));
    let body: Value = resp.json().await.expect("json");
    session_of(&cookie, &body)
}

/// Invites `email` with `role` using `token`; answers the invite answer.
async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Value {
    let (status, v) = app
        .call(
            Method::POST,
            "/v1/members",
            token,
            Some(json!({"email": email, "role": role})),
        )
        .await;
    assert_eq!(status, 201, "invite {email}: {v}");
    v
}

/// Invites a member and lets them set their password: answers (member id, their session).
async fn join(app: &TestApp, token: &str, email: &str, role: &str) -> (String, Session) {
    let v = invite(app, token, email, role).await;
    let s = accept(app, v["reset_token"].as_str().expect("token"), PASSWORD).await;
    (v["member"]["id"].as_str().expect("id").to_string(), s)
}

async fn owner_id(app: &TestApp, token: &str) -> String {
    let (_, list) = app.call(Method::GET, "/v1/members", token, None).await;
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["role"] == "owner")
        .and_then(|m| m["id"].as_str())
        .expect("an owner")
        .to_string()
}

#[tokio::test]
async fn invite_reset_link_sets_the_password_and_login_works() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;

    let v = invite(&app, &t.token, " Ada@Acme.example ", "admin").await;
    assert_eq!(v["member"]["email"], "Ada@Acme.example", "trimmed");
    assert_eq!(v["member"]["role"], "admin");
    assert_eq!(v["member"]["status"], "invited");
    let token = v["reset_token"].as_str().expect("reset token").to_string();
    assert!(token.starts_with("rst_"), "{token}");
    assert!(
        v["reset_url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/#/reset?token={token}")),
        "{v}"
    );
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(v["expires_at"].clone()).expect("expires_at");
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
        "{left}"
    );

    // No password yet: nothing logs in.
    problem(login_raw(&app, "ada@acme.example", PASSWORD).await, 401).await;
    problem(login_raw(&app, "ada@acme.example", "").await, 401).await;

    // The link sets it and logs the member in.
    let s = accept(&app, &token, NEW_PASSWORD).await;
    let (status, me) = as_session(&app, &s, Method::GET, "/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "Ada@Acme.example");
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["tenant"]["id"], t.id.as_str());

    // Login works with the new password, and the list shows the member active.
    let again = login(&app, "ada@acme.example", NEW_PASSWORD).await;
    assert_eq!(again.user_id, s.user_id);
    let (_, list) = app.call(Method::GET, "/v1/members", &t.token, None).await;
    let rows = list["data"].as_array().expect("data");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["email"], "Ada@Acme.example", "newest first");
    assert_eq!(rows[0]["status"], "active");
    assert_eq!(rows[1]["role"], "owner");
    assert!(!list.to_string().contains("password"));

    // Single use.
    let p = problem(use_reset(&app, &token, "yet another passphrase").await, 422).await;
    assert_eq!(fields(&p), vec!["token"]);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("already been used"),
        "{p}"
    );
    login(&app, "ada@acme.example", NEW_PASSWORD).await;

    // Pages like every list.
    invite(&app, &t.token, "bob@acme.example", "viewer").await;
    let (_, page) = app
        .call(Method::GET, "/v1/members?limit=2", &t.token, None)
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].as_str().expect("more").to_string();
    let (_, next) = app
        .call(
            Method::GET,
            &format!("/v1/members?limit=2&cursor={cursor}"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(next["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["data"][0]["role"], "owner");
    assert_eq!(next["next_cursor"], Value::Null);
}

#[tokio::test]
async fn reset_links_expire_are_replaced_and_end_the_other_sessions() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let first = login(&app, &t.email, PASSWORD).await;
    let second = login(&app, &t.email, PASSWORD).await;

    // Anyone may ask for a link for themselves.
    let me = first.user_id.clone();
    let path = format!("/v1/members/{me}/password-reset");
    let (status, old) = as_session(&app, &first, Method::POST, &path, None).await;
    assert_eq!(status, 201, "{old}");
    let (status, newer) = as_session(&app, &first, Method::POST, &path, None).await;
    assert_eq!(status, 201);
    assert_ne!(old["reset_token"], newer["reset_token"]);

    // A newer link replaces the older one.
    let p = problem(
        use_reset(&app, old["reset_token"].as_str().expect("t"), NEW_PASSWORD).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["token"]);

    // An expired link is refused.
    let newer_token = newer["reset_token"].as_str().expect("t").to_string();
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("expire");
    let p = problem(use_reset(&app, &newer_token, NEW_PASSWORD).await, 422).await;
    assert_eq!(fields(&p), vec!["token"]);
    assert!(
        p["detail"].as_str().unwrap_or("").contains("expired"),
        "{p}"
    );
    // The password did not change, and the sessions still work.
    login(&app, &t.email, PASSWORD).await;
    let (status, _) = as_session(&app, &second, Method::GET, "/v1/me", None).await;
    assert_eq!(status, 200);

    // A fresh link works and ends every other dashboard session of the user.
    let (_, fresh) = as_session(&app, &first, Method::POST, &path, None).await;
    let s = accept(
        &app,
        fresh["reset_token"].as_str().expect("t"),
        NEW_PASSWORD,
    )
    .await;
    for old in [&first, &second] {
        let (status, _) = as_session(&app, old, Method::GET, "/v1/me", None).await;
        assert_eq!(status, 401, "an old session ended");
    }
    let (status, _) = as_session(&app, &s, Method::GET, "/v1/me", None).await;
    assert_eq!(status, 200, "the reset's own session works");
    problem(login_raw(&app, &t.email, PASSWORD).await, 401).await;
    login(&app, &t.email, NEW_PASSWORD).await;
    // API tokens are not affected by a password change.
    let (status, _) = app.call(Method::GET, "/v1/me", &t.token, None).await;
    assert_eq!(status, 200);

    // A token-shaped string that was never issued.
    let p = problem(
        use_reset(
            &app,
            "rst_ZZZZZZZZZZ_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
            NEW_PASSWORD,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["token"]);
}

#[tokio::test]
async fn a_viewer_only_reads() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (stream, _) = app.create_stream(&t.token, "studio").await;
    let stream_id = stream["id"].as_str().expect("id").to_string();
    let (viewer_id, viewer) = join(&app, &t.token, "vera@acme.example", "viewer").await;
    let owner = owner_id(&app, &t.token).await;

    for path in [
        "/v1/streams",
        "/v1/members",
        "/v1/me",
        "/v1/audit-log",
        "/v1/api-tokens",
    ] {
        let (status, v) = as_session(&app, &viewer, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
    }
    let writes = [
        (
            Method::POST,
            "/v1/streams".to_string(),
            json!({"name": "x"}),
        ),
        (
            Method::PATCH,
            format!("/v1/streams/{stream_id}"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/v1/streams/{stream_id}"),
            Value::Null,
        ),
        (
            Method::POST,
            "/v1/api-tokens".to_string(),
            json!({"name": "x"}),
        ),
        (
            Method::PUT,
            "/v1/ip-allowlist".to_string(),
            json!({"ip_allowlist": []}),
        ),
        (
            Method::POST,
            "/v1/members".to_string(),
            json!({"email": "x@acme.example", "role": "viewer"}),
        ),
        (
            Method::PATCH,
            format!("/v1/members/{viewer_id}"),
            json!({"role": "owner"}),
        ),
        (Method::DELETE, format!("/v1/members/{owner}"), Value::Null),
        (
            Method::POST,
            format!("/v1/members/{owner}/password-reset"),
            Value::Null,
        ),
    ];
    for (method, path, body) in writes {
        let mut req = app
            .req(method.clone(), &path)
            .header("cookie", &viewer.cookie)
            .header("x-csrf-token", &viewer.csrf);
        if !body.is_null() {
            req = req.json(&body);
        }
        let p = problem(req.send().await.expect("send"), 403).await;
        assert_eq!(p["type"], "/problems/forbidden");
        assert_eq!(p["detail"], VIEWER_ONLY, "{method} {path}");
    }
    let (_, s) = app
        .call(
            Method::GET,
            &format!("/v1/streams/{stream_id}"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(s["name"], "studio", "nothing changed");

    // Their own password is theirs to change, and they can log out.
    let (status, v) = as_session(
        &app,
        &viewer,
        Method::POST,
        &format!("/v1/members/{viewer_id}/password-reset"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = as_session(&app, &viewer, Method::POST, "/v1/auth/logout", None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn admins_cannot_touch_owners_and_the_last_owner_stays() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let owner = owner_id(&app, &t.token).await;
    let owner_session = login(&app, &t.email, PASSWORD).await;
    let (admin_id, admin) = join(&app, &t.token, "adam@acme.example", "admin").await;
    let viewer = invite(&app, &t.token, "vic@acme.example", "viewer").await;
    let viewer_id = viewer["member"]["id"].as_str().expect("id").to_string();

    // What an admin may not do.
    let denied = [
        (
            Method::POST,
            "/v1/members".to_string(),
            Some(json!({"email": "o2@acme.example", "role": "owner"})),
        ),
        (
            Method::PATCH,
            format!("/v1/members/{owner}"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::PATCH,
            format!("/v1/members/{viewer_id}"),
            Some(json!({"role": "owner"})),
        ),
        (Method::DELETE, format!("/v1/members/{owner}"), None),
        (
            Method::POST,
            format!("/v1/members/{owner}/password-reset"),
            None,
        ),
    ];
    for (method, path, body) in &denied {
        let (status, p) = as_session(&app, &admin, method.clone(), path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {p}");
        assert!(p["detail"].as_str().unwrap_or("").contains("admin"), "{p}");
    }
    // What an admin may do.
    let (status, v) = as_session(
        &app,
        &admin,
        Method::PATCH,
        &format!("/v1/members/{viewer_id}"),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["role"], "admin");
    let (status, v) = as_session(
        &app,
        &admin,
        Method::POST,
        &format!("/v1/members/{viewer_id}/password-reset"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = as_session(
        &app,
        &admin,
        Method::DELETE,
        &format!("/v1/members/{viewer_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // A token an admin creates acts as an admin.
    let (status, created) = as_session(
        &app,
        &admin,
        Method::POST,
        "/v1/api-tokens",
        Some(json!({"name": "adam-ci"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(created["role"], "admin");
    let admin_token = created["token"].as_str().expect("token").to_string();
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/members/{owner}"),
            &admin_token,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, 403);
    // Through it, a further token: still the admin's, still an admin.
    let (status, chained) = app
        .call(
            Method::POST,
            "/v1/api-tokens",
            &admin_token,
            Some(json!({"name": "chained"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(chained["role"], "admin");
    let chained_token = chained["token"].as_str().expect("token").to_string();

    // The last owner can neither be demoted nor removed, not even by themselves.
    for (method, body) in [
        (Method::PATCH, Some(json!({"role": "admin"}))),
        (Method::DELETE, None),
    ] {
        let (status, p) = as_session(
            &app,
            &owner_session,
            method.clone(),
            &format!("/v1/members/{owner}"),
            body,
        )
        .await;
        assert_eq!(status, 409, "{method}: {p}");
        assert_eq!(p["type"], "/problems/conflict");
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or("")
                .contains(t.email.as_str()),
            "names the owner: {p}"
        );
    }

    // Demoting the admin lowers their tokens; a promotion raises none.
    let (status, v) = as_session(
        &app,
        &owner_session,
        Method::PATCH,
        &format!("/v1/members/{admin_id}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for tok in [&admin_token, &chained_token] {
        let (status, p) = app
            .call(Method::POST, "/v1/streams", tok, Some(json!({"name": "x"})))
            .await;
        assert_eq!(status, 403, "{p}");
        assert_eq!(p["detail"], VIEWER_ONLY);
    }
    let (status, p) = as_session(
        &app,
        &admin,
        Method::POST,
        "/v1/streams",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 403, "the session follows the new role at once: {p}");
    let (status, v) = as_session(
        &app,
        &owner_session,
        Method::PATCH,
        &format!("/v1/members/{admin_id}"),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (_, tokens) = app
        .call(Method::GET, "/v1/api-tokens", &t.token, None)
        .await;
    let roles: Vec<(String, String)> = tokens["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_string(),
                t["role"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        roles.contains(&("adam-ci".into(), "viewer".into())),
        "{roles:?}"
    );
    assert!(
        roles.contains(&("initial".into(), "owner".into())),
        "{roles:?}"
    );

    // With a second owner the first may step down, and then be removed by the other.
    let (status, v) = as_session(
        &app,
        &owner_session,
        Method::PATCH,
        &format!("/v1/members/{owner}"),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, p) = as_session(
        &app,
        &admin,
        Method::DELETE,
        &format!("/v1/members/{admin_id}"),
        None,
    )
    .await;
    assert_eq!(status, 409, "now the last owner: {p}");

    // Removing a member ends their sessions and revokes the tokens they created.
    let (status, _) = as_session(
        &app,
        &admin,
        Method::DELETE,
        &format!("/v1/members/{owner}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = as_session(&app, &owner_session, Method::GET, "/v1/me", None).await;
    assert_eq!(status, 401, "the removed owner's session ended");
    let (status, _) = app.call(Method::GET, "/v1/me", &t.token, None).await;
    assert_eq!(status, 401, "the tokens they created are revoked");
    problem(login_raw(&app, &t.email, PASSWORD).await, 401).await;
    let (status, _) = app.call(Method::GET, "/v1/me", &admin_token, None).await;
    assert_eq!(status, 200, "other members' tokens still work");
}

#[tokio::test]
async fn the_operator_resets_a_locked_out_owner() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let operator = |body: Value| {
        app.req(Method::POST, "/admin/v1/users/password-reset")
            .bearer_auth(&app.admin_token)
            .json(&body)
            .send()
    };
    let resp = operator(json!({"email": t.email.to_uppercase()}))
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.expect("json");
    let token = v["reset_token"].as_str().expect("token").to_string();
    assert!(
        v["reset_url"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!("/#/reset?token={token}"))
    );
    assert!(v["expires_at"].is_string());

    // The old password works until the link is used.
    login(&app, &t.email, PASSWORD).await;
    let s = accept(&app, &token, NEW_PASSWORD).await;
    let (_, me) = as_session(&app, &s, Method::GET, "/v1/me", None).await;
    assert_eq!(me["user"]["role"], "owner");
    login(&app, &t.email, NEW_PASSWORD).await;

    problem(
        operator(json!({"email": "nobody@acme.example"}))
            .await
            .expect("send"),
        404,
    )
    .await;
    let p = problem(operator(json!({"email": "nope"})).await.expect("send"), 422).await;
    assert_eq!(fields(&p), vec!["email"]);
    let p = problem(operator(json!({})).await.expect("send"), 422).await;
    assert_eq!(fields(&p), vec!["email"]);
    // A tenant token is not the operator.
    let resp = app
        .as_token(Method::POST, "/admin/v1/users/password-reset", &t.token)
        .json(&json!({"email": t.email}))
        .send()
        .await
        .expect("send");
    problem(resp, 401).await;

    let (_, log) = app.call(Method::GET, "/v1/audit-log", &t.token, None).await;
    let issued = log["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|e| e["action"] == "password_reset.issued")
        .expect("issued entry")
        .clone();
    assert_eq!(issued["actor"], "operator");
    assert_eq!(issued["details"]["email"], t.email.as_str());
    assert!(!log.to_string().contains(&token));
}

#[tokio::test]
async fn member_changes_and_resets_are_audited_without_the_token() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let v = invite(&app, &t.token, "ann@acme.example", "viewer").await;
    let id = v["member"]["id"].as_str().expect("id").to_string();
    let token = v["reset_token"].as_str().expect("t").to_string();
    accept(&app, &token, NEW_PASSWORD).await;
    let (_, again) = app
        .call(
            Method::POST,
            &format!("/v1/members/{id}/password-reset"),
            &t.token,
            None,
        )
        .await;
    let second = again["reset_token"].as_str().expect("t").to_string();
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/members/{id}"),
            &t.token,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/members/{id}"), &t.token, None)
        .await;
    assert_eq!(status, 204);

    let (_, log) = app.call(Method::GET, "/v1/audit-log", &t.token, None).await;
    let entries = log["data"].as_array().expect("data");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "member.removed",
            "member.role_changed",
            "password_reset.issued",
            "password_reset.used",
            "password_reset.issued",
            "member.invited",
        ],
        "newest first"
    );
    for e in entries {
        assert_eq!(e["target_type"], "user");
        assert_eq!(e["target_id"], id.as_str());
    }
    let by_action = |a: &str| {
        entries
            .iter()
            .find(|e| e["action"] == a)
            .expect("entry")
            .clone()
    };
    assert_eq!(by_action("member.invited")["details"]["role"], "viewer");
    assert_eq!(
        by_action("member.invited")["actor"],
        format!("token:{}", t.token_id)
    );
    assert_eq!(
        by_action("password_reset.used")["actor"],
        format!("user:{id}")
    );
    let changed = by_action("member.role_changed");
    assert_eq!(changed["details"]["was"], "viewer");
    assert_eq!(changed["details"]["role"], "admin");
    assert_eq!(
        by_action("member.removed")["details"]["email"],
        "ann@acme.example"
    );

    let text = log.to_string();
    for secret in [&token, &second] {
        let secret_part = secret.rsplit('_').next().expect("secret");
        assert!(!text.contains(secret_part), "the audit log holds no token");
    }
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(r)::text FROM password_resets r
         UNION ALL SELECT row_to_json(a)::text FROM audit_log a",
    )
    .fetch_all(&app.db)
    .await
    .expect("dump");
    for secret in [&token, &second] {
        let secret_part = secret.rsplit('_').next().expect("secret");
        assert!(dump.iter().all(|row| !row.contains(secret_part)));
    }
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let member = invite(&app, &t.token, "m@acme.example", "viewer").await;
    let id = member["member"]["id"].as_str().expect("id").to_string();
    let bodies = [
        (json!({"email": "nope", "role": "admin"}), "email"),
        (json!({"email": "x@acme.example", "role": "god"}), "role"),
        (json!({"email": "x@acme.example"}), "role"),
        (json!({"role": "admin"}), "email"),
        (
            json!({"email": "x@acme.example", "role": "admin", "name": "x"}),
            "name",
        ),
    ];
    for (body, field) in bodies {
        let resp = app
            .as_token(Method::POST, "/v1/members", &t.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let p = problem(resp, 422).await;
        assert_eq!(fields(&p), vec![field], "{body}");
    }
    // The same email anywhere on the instance.
    let (status, p) = app
        .call(
            Method::POST,
            "/v1/members",
            &t.token,
            Some(json!({"email": t.email.to_uppercase(), "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 409, "{p}");
    for body in [json!({"role": "x"}), json!({})] {
        let resp = app
            .as_token(Method::PATCH, &format!("/v1/members/{id}"), &t.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(fields(&problem(resp, 422).await), vec!["role"]);
    }
    let p = problem(use_reset(&app, "not-a-token", "short").await, 422).await;
    assert_eq!(fields(&p), vec!["token", "password"]);
    let token = member["reset_token"].as_str().expect("t");
    let p = problem(use_reset(&app, token, "short").await, 422).await;
    assert_eq!(fields(&p), vec!["password"]);
    let resp = app
        .req(Method::POST, "/v1/auth/password-reset")
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("send");
    assert_eq!(fields(&problem(resp, 422).await), vec!["password"]);
    // The link still works after the refusals.
    accept(&app, token, NEW_PASSWORD).await;
    // Unknown and malformed member ids.
    for path in [
        "/v1/members/01a211ba-0000-7000-8000-000000000000",
        "/v1/members/not-an-id",
    ] {
        let resp = app
            .as_token(Method::PATCH, path, &t.token)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("send");
        problem(resp, 404).await;
    }
}

#[tokio::test]
async fn members_stay_inside_their_tenant() {
    let app = TestApp::start().await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let v = invite(&app, &a.token, "secret-hire@a.example", "admin").await;
    let hire = v["member"]["id"].as_str().expect("id").to_string();
    let (_, list) = app.call(Method::GET, "/v1/members", &b.token, None).await;
    let text = list.to_string();
    assert!(!text.contains("secret-hire") && !text.contains(&hire));
    assert!(!text.contains(&a.email));
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "B's owner");
    // An admin of A (through their session) cannot reach B's owner.
    let s = accept(&app, v["reset_token"].as_str().expect("t"), PASSWORD).await;
    let b_owner = owner_id(&app, &b.token).await;
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/members/{b_owner}"),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, format!("/v1/members/{b_owner}"), None),
        (
            Method::POST,
            format!("/v1/members/{b_owner}/password-reset"),
            None,
        ),
    ] {
        let (status, p) = as_session(&app, &s, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {p}");
    }
    login(&app, &b.email, PASSWORD).await;
}

#[tokio::test]
async fn password_reset_is_limited_per_address() {
    let app = TestApp::start_with(|c| c.rate_limit_per_ip = 2).await;
    for _ in 0..2 {
        let resp = use_reset(&app, "rst_x", NEW_PASSWORD).await;
        assert_eq!(resp.headers()["x-ratelimit-limit"], "2");
        problem(resp, 422).await;
    }
    let resp = use_reset(&app, "rst_x", NEW_PASSWORD).await;
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 429).await;
}
