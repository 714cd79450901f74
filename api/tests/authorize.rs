//! Publish authorization (docs/api.md) over the real internal endpoint and a real database: every
//! reason code the API decides, key rotation with grace, publish tokens (API-minted and offline),
//! allowlists (IPv4, IPv6, IPv4-mapped), JWT attacks, brute-force cool-down, attempts and audit.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{NODE_SECRET, Tenant, TestApp};
use hmac::{Hmac, Mac};
use inlet_api::domain::publish_token::{self, AUDIENCE, Claims, KeyPair};
use reqwest::Method;
use serde_json::{Value, json};

const IP: &str = "198.51.100.7";

fn code(v: &Value) -> &str {
    match v["decision"].as_str() {
        Some("allow") => "allow",
        _ => v["reason_code"].as_str().unwrap_or("?"),
    }
}

struct Fixture {
    app: TestApp,
    t: Tenant,
    stream: String,
    key: String,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(configure: impl FnOnce(&mut inlet_api::ApiConfig)) -> Fixture {
    let app = TestApp::start_with(configure).await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio").await;
    Fixture {
        stream: s["id"].as_str().expect("id").to_string(),
        app,
        t,
        key,
    }
}

impl Fixture {
    async fn patch(&self, body: Value) {
        let (status, _) = self
            .app
            .call(
                Method::PATCH,
                &format!("/v1/streams/{}", self.stream),
                &self.t.token,
                Some(body),
            )
            .await;
        assert_eq!(status, 200);
    }

    async fn mint(&self, body: Value) -> String {
        let (status, v) = self
            .app
            .call(
                Method::POST,
                &format!("/v1/streams/{}/publish-tokens", self.stream),
                &self.t.token,
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["token"].as_str().expect("token").to_string()
    }

    async fn rotate(&self, body: Value) -> String {
        let (status, v) = self
            .app
            .call(
                Method::POST,
                &format!("/v1/streams/{}/keys", self.stream),
                &self.t.token,
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["stream_key"].as_str().expect("key").to_string()
    }

    async fn attempts(&self) -> Vec<Value> {
        let (status, v) = self
            .app
            .call(
                Method::GET,
                &format!("/v1/streams/{}/attempts?limit=100", self.stream),
                &self.t.token,
                None,
            )
            .await;
        assert_eq!(status, 200);
        v["data"].as_array().expect("data").clone()
    }
}

fn claims(stream: &str, tenant: &str, exp_in: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        aud: AUDIENCE.into(),
        sub: stream.into(),
        tid: tenant.into(),
        exp: now + exp_in,
        nbf: None,
        iat: now,
        jti: format!("jti-{now}-{exp_in}"),
        ip: None,
        single_use: None,
    }
}

#[tokio::test]
async fn stream_key_decisions_and_attempt_records() {
    let f = fixture().await;
    let app = &f.app;
    let wrong_secret = format!("{}{}", &f.key[..f.key.len() - 4], "AAAA");
    let other_id = "sk_ZZZZZZZZZZ_0123456789abcdef0123456789abcdef";

    // (app, publish name, expected decision)
    let table: Vec<(&str, String, &str)> = vec![
        ("live", f.key.clone(), "allow"),
        ("live", wrong_secret, "invalid_key"),
        ("live", other_id.into(), "invalid_key"),
        ("live", "not-a-key".into(), "invalid_key"),
        ("live", String::new(), "invalid_key"),
        ("livee", f.key.clone(), "unknown_app"),
    ];
    for (app_name, name, want) in &table {
        let v = app.authorize(app_name, name, IP).await;
        assert_eq!(code(&v), *want, "{app_name} {name}: {v}");
    }
    let allow = app.authorize("live", &f.key, IP).await;
    assert_eq!(allow["stream_id"], f.stream.as_str());
    assert_eq!(allow["tenant_id"], f.t.id.as_str());
    assert!(allow["session_id"].is_string() && allow["playback_id"].is_string());
    assert_eq!(allow["limits"]["video_codecs"], json!(["h264"]));
    assert!(
        !f.key.contains(allow["playback_id"].as_str().expect("pid")),
        "playback id is unrelated to the key"
    );

    let wrong_app = app.authorize("livee", &f.key, IP).await;
    let desc = wrong_app["description"].as_str().expect("desc");
    assert!(desc.contains("/livee") && desc.contains("/live"), "{desc}");

    // Attempts: recorded on the stream, newest first, the wrong-secret one included; unknown ids not.
    let attempts = f.attempts().await;
    let codes: Vec<&str> = attempts
        .iter()
        .map(|a| a["reason_code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        vec!["unknown_app", "ok", "unknown_app", "invalid_key", "ok"]
    );
    assert_eq!(attempts[3]["result"], "refused");
    assert_eq!(attempts[3]["client_ip"], IP);
    assert_eq!(attempts[1]["result"], "accepted");
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM publish_attempts")
        .fetch_one(&app.db)
        .await
        .expect("n");
    assert_eq!(all, 8, "unattributable attempts are recorded too");

    // The secret part of a key is never written anywhere.
    let secret = f.key.rsplit('_').next().expect("secret");
    let dump: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(a)::text FROM publish_attempts a")
            .fetch_all(&app.db)
            .await
            .expect("rows");
    assert!(dump.iter().all(|r| !r.contains(secret)));

    // last_used_at is set.
    let (_, keys) = app
        .call(
            Method::GET,
            &format!("/v1/streams/{}/keys", f.stream),
            &f.t.token,
            None,
        )
        .await;
    assert!(keys["data"][0]["last_used_at"].is_string());
}

#[tokio::test]
async fn rotation_grace_revocation_and_disabled_stream() {
    let f = fixture().await;
    let app = &f.app;
    let old = f.key.clone();
    let new = f.rotate(json!({"grace_seconds": 2})).await;
    assert_eq!(
        code(&app.authorize("live", &old, IP).await),
        "allow",
        "old key works during the grace window"
    );
    assert_eq!(code(&app.authorize("live", &new, IP).await), "allow");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let v = app.authorize("live", &old, IP).await;
    assert_eq!(code(&v), "key_expired", "one second after the grace window");
    assert!(
        v["description"].as_str().expect("d").contains("rotated"),
        "{v}"
    );
    assert_eq!(code(&app.authorize("live", &new, IP).await), "allow");

    // Rotation without grace: the previous key stops at once.
    let newest = f.rotate(json!({})).await;
    assert_eq!(code(&app.authorize("live", &new, IP).await), "key_expired");
    assert_eq!(code(&app.authorize("live", &newest, IP).await), "allow");

    // Revocation.
    let key_id = newest.split('_').nth(1).expect("id");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/streams/{}/keys/{key_id}", f.stream),
            &f.t.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        code(&app.authorize("live", &newest, IP).await),
        "key_revoked"
    );
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM disconnect_requests WHERE key_id = $1")
            .bind(key_id)
            .fetch_one(&app.db)
            .await
            .expect("n");
    assert_eq!(pending, 1, "revocation records a disconnect for the ingest");

    // Key list shows statuses.
    let (_, keys) = app
        .call(
            Method::GET,
            &format!("/v1/streams/{}/keys", f.stream),
            &f.t.token,
            None,
        )
        .await;
    let statuses: Vec<&str> = keys["data"]
        .as_array()
        .expect("d")
        .iter()
        .filter_map(|k| k["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["revoked", "expired", "expired"]);
    assert!(
        !keys
            .to_string()
            .contains(newest.rsplit('_').next().expect("s"))
    );

    // Disabled stream.
    let fresh = f.rotate(json!({})).await;
    app.call(
        Method::POST,
        &format!("/v1/streams/{}/disable", f.stream),
        &f.t.token,
        None,
    )
    .await;
    assert_eq!(
        code(&app.authorize("live", &fresh, IP).await),
        "stream_disabled"
    );
    app.call(
        Method::POST,
        &format!("/v1/streams/{}/enable", f.stream),
        &f.t.token,
        None,
    )
    .await;
    assert_eq!(code(&app.authorize("live", &fresh, IP).await), "allow");

    // Grace out of range is a field error.
    let (status, v) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{}/keys", f.stream),
            &f.t.token,
            Some(json!({"grace_seconds": -1})),
        )
        .await;
    assert_eq!(
        (status, common::fields(&v)),
        (422, vec!["grace_seconds".to_string()])
    );
}

#[tokio::test]
async fn allowlists_ipv4_ipv6_and_mapped_addresses() {
    let f = fixture().await;
    let app = &f.app;
    f.patch(json!({"ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"]}))
        .await;
    let table = [
        ("203.0.113.5", "allow"),
        ("::ffff:203.0.113.5", "allow"),
        ("2001:db8:1::5", "allow"),
        ("203.0.114.5", "ip_not_allowed"),
        ("2001:db9::1", "ip_not_allowed"),
        ("::ffff:203.0.114.5", "ip_not_allowed"),
    ];
    for (ip, want) in table {
        assert_eq!(code(&app.authorize("live", &f.key, ip).await), want, "{ip}");
    }
    // The tenant list must admit the address too.
    let (status, v) = app
        .call(
            Method::PUT,
            "/v1/ip-allowlist",
            &f.t.token,
            Some(json!({"ip_allowlist": ["2001:db8:1::/48"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["ip_allowlist"], json!(["2001:db8:1::/48"]));
    assert_eq!(
        code(&app.authorize("live", &f.key, "2001:db8:1::5").await),
        "allow"
    );
    let v = app.authorize("live", &f.key, "203.0.113.5").await;
    assert_eq!(code(&v), "ip_not_allowed");
    assert!(
        v["description"]
            .as_str()
            .expect("d")
            .contains("organization")
    );
    let (status, v) = app
        .call(
            Method::PUT,
            "/v1/ip-allowlist",
            &f.t.token,
            Some(json!({"ip_allowlist": ["nope"]})),
        )
        .await;
    assert_eq!(
        (status, common::fields(&v)),
        (422, vec!["ip_allowlist[0]".to_string()])
    );
}

#[tokio::test]
async fn publish_tokens_by_auth_mode_single_use_and_binding() {
    let f = fixture().await;
    let app = &f.app;

    // key mode ignores tokens; token mode needs one.
    f.patch(json!({"auth_mode": "token"})).await;
    let v = app.authorize("live", &f.key, IP).await;
    assert_eq!(code(&v), "token_invalid");
    let token = f.mint(json!({"ttl_seconds": 600})).await;
    assert_eq!(
        code(&app.authorize("live", &token, IP).await),
        "allow",
        "token as the publish name"
    );
    let v = app
        .authorize_with(json!({"app": "live", "publish_name": "studio", "connect_query": format!("token={token}"),
                               "client_ip": IP, "tls": true, "node_id": "n"}))
        .await;
    assert_eq!(code(&v), "allow", "token in the connect URL's query");

    // key+token: both needed.
    f.patch(json!({"auth_mode": "key+token"})).await;
    assert_eq!(
        code(
            &app.authorize("live", &format!("{}?token={token}", f.key), IP)
                .await
        ),
        "allow"
    );
    assert_eq!(
        code(&app.authorize("live", &f.key, IP).await),
        "token_invalid"
    );
    assert_eq!(
        code(&app.authorize("live", &token, IP).await),
        "invalid_key"
    );

    // Single use: once.
    let once = f
        .mint(json!({"ttl_seconds": 600, "single_use": true}))
        .await;
    let name = format!("{}?token={once}", f.key);
    assert_eq!(code(&app.authorize("live", &name, IP).await), "allow");
    assert_eq!(
        code(&app.authorize("live", &name, IP).await),
        "token_replayed"
    );

    // IP binding.
    let bound = f
        .mint(json!({"ttl_seconds": 600, "ip": "198.51.100.0/24"}))
        .await;
    let name = format!("{}?token={bound}", f.key);
    assert_eq!(code(&app.authorize("live", &name, IP).await), "allow");
    assert_eq!(
        code(&app.authorize("live", &name, "192.0.2.1").await),
        "token_invalid"
    );

    // A token for another stream of the same tenant.
    let (other, _) = app.create_stream(&f.t.token, "other").await;
    let (_, v) = app
        .call(
            Method::POST,
            &format!(
                "/v1/streams/{}/publish-tokens",
                other["id"].as_str().expect("id")
            ),
            &f.t.token,
            Some(json!({"ttl_seconds": 600})),
        )
        .await;
    let foreign = v["token"].as_str().expect("t");
    assert_eq!(
        code(
            &app.authorize("live", &format!("{}?token={foreign}", f.key), IP)
                .await
        ),
        "token_invalid"
    );

    // Bad TTL / binding are field errors.
    let (status, v) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{}/publish-tokens", f.stream),
            &f.t.token,
            Some(json!({"ttl_seconds": 0, "ip": "x"})),
        )
        .await;
    assert_eq!(
        (status, common::fields(&v)),
        (422, vec!["ttl_seconds".to_string(), "ip".to_string()])
    );
}

#[tokio::test]
async fn offline_tokens_with_tenant_signing_keys_and_jwt_attacks() {
    let f = fixture().await;
    let app = &f.app;
    f.patch(json!({"auth_mode": "token"})).await;
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/signing-keys",
            &f.t.token,
            Some(json!({"name": "backend"})),
        )
        .await;
    assert_eq!(status, 201);
    let kid = created["id"].as_str().expect("kid").to_string();
    let pem = created["private_key_pem"].as_str().expect("pem");
    let pair = KeyPair::from_private_pem(pem).expect("the returned private key loads");
    // Common JWT stacks sit on OpenSSL: the PEM must load there too.
    let mut openssl = std::process::Command::new("openssl")
        .args(["pkey", "-noout"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    use std::io::Write;
    openssl
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write pem");
    assert!(
        openssl.wait().expect("wait").success(),
        "openssl loads the private key"
    );
    let (_, list) = app
        .call(Method::GET, "/v1/signing-keys", &f.t.token, None)
        .await;
    assert!(
        list["data"][0].get("private_key_pem").is_none(),
        "private key shown once"
    );

    let good = publish_token::mint(&kid, &pair, &claims(&f.stream, &f.t.id, 600)).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &good, IP).await),
        "allow",
        "offline token accepted"
    );

    let expired =
        publish_token::mint(&kid, &pair, &claims(&f.stream, &f.t.id, -120)).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &expired, IP).await),
        "token_expired"
    );
    let mut early = claims(&f.stream, &f.t.id, 600);
    early.nbf = Some(early.iat + 300);
    let early = publish_token::mint(&kid, &pair, &early).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &early, IP).await),
        "token_invalid",
        "not yet valid"
    );
    let mut aud = claims(&f.stream, &f.t.id, 600);
    aud.aud = "someone-else".into();
    let aud = publish_token::mint(&kid, &pair, &aud).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &aud, IP).await),
        "token_invalid",
        "wrong audience"
    );

    // Another tenant id in a token signed by this tenant's key.
    let b = app.create_tenant("other").await;
    let wrong_tid = publish_token::mint(&kid, &pair, &claims(&f.stream, &b.id, 600)).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &wrong_tid, IP).await),
        "token_invalid"
    );
    // Another tenant's signing key cannot mint for this tenant's stream.
    let (_, bkey) = app
        .call(
            Method::POST,
            "/v1/signing-keys",
            &b.token,
            Some(json!({"name": "b"})),
        )
        .await;
    let bpair =
        KeyPair::from_private_pem(bkey["private_key_pem"].as_str().expect("pem")).expect("pem");
    let cross = publish_token::mint(
        bkey["id"].as_str().expect("kid"),
        &bpair,
        &claims(&f.stream, &f.t.id, 600),
    )
    .expect("m");
    assert_eq!(
        code(&app.authorize("live", &cross, IP).await),
        "token_invalid"
    );

    // Attacks on the format.
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).expect("json"));
    let none = format!("{}.{}.", b64(json!({"alg": "none", "kid": kid})), parts[1]);
    assert_eq!(
        code(&app.authorize("live", &none, IP).await),
        "token_invalid",
        "alg none"
    );
    let hs_input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid})),
        parts[1]
    );
    let public_pem = created["public_key_pem"].as_str().expect("public");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public_pem.as_bytes()).expect("hmac");
    mac.update(hs_input.as_bytes());
    let hs = format!(
        "{hs_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(
        code(&app.authorize("live", &hs, IP).await),
        "token_invalid",
        "HS256 with the public key"
    );
    let mut forged = claims(&f.stream, &f.t.id, 600);
    forged.exp += 86_400 * 365;
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_value(&forged).expect("v")),
        parts[2]
    );
    assert_eq!(
        code(&app.authorize("live", &tampered, IP).await),
        "token_invalid",
        "modified payload"
    );

    // Revoking the signing key refuses its tokens.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/signing-keys/{kid}"),
            &f.t.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let again = publish_token::mint(&kid, &pair, &claims(&f.stream, &f.t.id, 601)).expect("mint");
    assert_eq!(
        code(&app.authorize("live", &again, IP).await),
        "token_invalid"
    );

    // API tokens survive a rotation of the API's own key.
    let api_token = {
        let (_, v) = app
            .call(
                Method::POST,
                &format!("/v1/streams/{}/publish-tokens", f.stream),
                &f.t.token,
                Some(json!({"ttl_seconds": 600})),
            )
            .await;
        v["token"].as_str().expect("t").to_string()
    };
    let resp = app
        .req(Method::POST, "/admin/v1/publish-signing-key/rotate")
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    assert_eq!(
        code(&app.authorize("live", &api_token, IP).await),
        "allow",
        "old API key still verifies"
    );
}

#[tokio::test]
async fn repeated_failures_start_a_cool_down_without_database_lookups() {
    let f = fixture_with(|c| c.auth_max_failures = 3).await;
    let app = &f.app;
    let bad = "sk_ZZZZZZZZZZ_0123456789abcdef0123456789abcdef";
    for _ in 0..3 {
        assert_eq!(code(&app.authorize("live", bad, IP).await), "invalid_key");
    }
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM publish_attempts")
        .fetch_one(&app.db)
        .await
        .expect("n");
    let v = app.authorize("live", &f.key, IP).await;
    assert_eq!(
        code(&v),
        "invalid_key",
        "even a valid key is refused during the cool-down"
    );
    assert!(
        v["description"]
            .as_str()
            .expect("d")
            .contains("Too many failed")
    );
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM publish_attempts")
        .fetch_one(&app.db)
        .await
        .expect("n");
    assert_eq!(before, after, "no database work during the cool-down");
    assert_eq!(
        code(&app.authorize("live", &f.key, "198.51.100.8").await),
        "allow",
        "other addresses unaffected"
    );
    let metrics = app
        .req(Method::GET, "/metrics")
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        metrics.contains("inlet_api_authorize_throttled_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"inlet_api_publish_attempts_total{result="refused",reason_code="invalid_key"} 3"#
    ));
}

#[tokio::test]
async fn internal_api_needs_the_node_secret() {
    let f = fixture().await;
    let body = json!({"app": "live", "publish_name": f.key, "client_ip": IP, "tls": false, "node_id": "n"});
    for auth in [None, Some("wrong"), Some(&format!("{NODE_SECRET}x")[..])] {
        let mut req = f
            .app
            .req(Method::POST, "/internal/v1/publish/authorize")
            .json(&body);
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        common::problem(req.send().await.expect("send"), 401).await;
    }
    // Tenant API tokens are not node secrets.
    let resp = f
        .app
        .req(Method::POST, "/internal/v1/publish/authorize")
        .bearer_auth(&f.t.token)
        .json(&body)
        .send()
        .await
        .expect("s");
    common::problem(resp, 401).await;
}

#[tokio::test]
async fn audit_log_records_rotations_revocations_and_mints() {
    let f = fixture().await;
    let app = &f.app;
    let new = f
        .rotate(json!({"grace_seconds": 60, "disconnect_active": true}))
        .await;
    let key_id = new.split('_').nth(1).expect("id").to_string();
    app.call(
        Method::DELETE,
        &format!("/v1/streams/{}/keys/{key_id}", f.stream),
        &f.t.token,
        None,
    )
    .await;
    f.mint(json!({"ttl_seconds": 60})).await;
    let (_, sk) = app
        .call(
            Method::POST,
            "/v1/signing-keys",
            &f.t.token,
            Some(json!({"name": "k"})),
        )
        .await;
    app.call(
        Method::DELETE,
        &format!("/v1/signing-keys/{}", sk["id"].as_str().expect("kid")),
        &f.t.token,
        None,
    )
    .await;
    app.call(
        Method::PUT,
        "/v1/ip-allowlist",
        &f.t.token,
        Some(json!({"ip_allowlist": []})),
    )
    .await;

    let (status, log) = app
        .call(Method::GET, "/v1/audit-log", &f.t.token, None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log["data"]
        .as_array()
        .expect("d")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "ip_allowlist.updated",
            "signing_key.revoked",
            "signing_key.created",
            "publish_token.minted",
            "stream_key.revoked",
            "stream_key.rotated",
            "stream.created"
        ]
    );
    // Rotation with disconnect_active asks to cut whatever is live on the stream now (necessarily
    // on an older key).
    let intents: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT key_id, reason FROM disconnect_requests ORDER BY created_at")
            .fetch_all(&app.db)
            .await
            .expect("intents");
    assert_eq!(intents[0], (None, "key_rotated".to_string()));
    let rotated = &log["data"][5];
    assert_eq!(rotated["actor"], format!("token:{}", f.t.token_id));
    assert_eq!(rotated["details"]["grace_seconds"], 60);
    assert_eq!(rotated["details"]["disconnect_active"], true);
    assert!(
        rotated["client_ip"]
            .as_str()
            .is_some_and(|ip| ip == "127.0.0.1")
    );
    assert!(
        !log.to_string()
            .contains(new.rsplit('_').next().expect("secret")),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn mapped_rules_token_mode_keys_and_per_tenant_jti() {
    let f = fixture().await;
    let app = &f.app;
    // An IPv4-mapped IPv6 rule is stored as the IPv4 network it means, and matches IPv4 clients.
    let (status, v) = app
        .call(
            Method::PATCH,
            &format!("/v1/streams/{}", f.stream),
            &f.t.token,
            Some(json!({"ip_allowlist": ["::ffff:198.51.100.0/120"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["ip_allowlist"], json!(["198.51.100.0/24"]));
    assert_eq!(code(&app.authorize("live", &f.key, IP).await), "allow");

    // In token mode a key-shaped name is not checked, so it is neither recorded nor marked used.
    let keys_path = format!("/v1/streams/{}/keys", f.stream);
    let (_, before) = app.call(Method::GET, &keys_path, &f.t.token, None).await;
    f.patch(json!({"auth_mode": "token", "ip_allowlist": []}))
        .await;
    let token = f.mint(json!({"ttl_seconds": 600})).await;
    let v = app
        .authorize("live", &format!("{}?token={token}", f.key), IP)
        .await;
    assert_eq!(code(&v), "allow");
    assert_eq!(v["key_id"], Value::Null);
    let (_, after) = app.call(Method::GET, &keys_path, &f.t.token, None).await;
    assert_eq!(
        after["data"][0]["last_used_at"],
        before["data"][0]["last_used_at"]
    );

    // Single-use ids are per tenant: another tenant may use the same jti.
    let b = app.create_tenant("other").await;
    let (b_stream, _) = app.create_stream(&b.token, "b").await;
    let b_stream = b_stream["id"].as_str().expect("id").to_string();
    app.call(
        Method::PATCH,
        &format!("/v1/streams/{b_stream}"),
        &b.token,
        Some(json!({"auth_mode": "token"})),
    )
    .await;
    let mut minted = Vec::new();
    for (t, stream) in [(&f.t, f.stream.as_str()), (&b, b_stream.as_str())] {
        let (_, k) = app
            .call(
                Method::POST,
                "/v1/signing-keys",
                &t.token,
                Some(json!({"name": "k"})),
            )
            .await;
        let pair =
            KeyPair::from_private_pem(k["private_key_pem"].as_str().expect("pem")).expect("pem");
        let mut c = claims(stream, &t.id, 600);
        c.jti = "shared-jti".into();
        c.single_use = Some(true);
        minted.push(publish_token::mint(k["id"].as_str().expect("kid"), &pair, &c).expect("mint"));
    }
    assert_eq!(code(&app.authorize("live", &minted[0], IP).await), "allow");
    assert_eq!(
        code(&app.authorize("live", &minted[1], IP).await),
        "allow",
        "no cross-tenant replay"
    );
    assert_eq!(
        code(&app.authorize("live", &minted[1], IP).await),
        "token_replayed"
    );

    // A token with missing claims says so.
    let (_, k) = app
        .call(Method::GET, "/v1/signing-keys", &f.t.token, None)
        .await;
    let _ = k;
    let parts: Vec<String> = minted[0].split('.').map(str::to_string).collect();
    let bare = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#),
        parts[2]
    );
    let v = app.authorize("live", &bare, IP).await;
    assert_eq!(code(&v), "token_invalid");
    assert!(
        v["description"].as_str().expect("d").contains("incomplete"),
        "{v}"
    );
}

#[tokio::test]
async fn a_key_in_the_server_field_is_named_on_its_stream_and_never_stored() {
    let f = fixture().await;
    let v = f.app.authorize(&f.key, "", IP).await;
    assert_eq!(code(&v), "unknown_app");
    let desc = v["description"].as_str().expect("d");
    assert!(
        desc.contains("Server field ends with the stream key"),
        "{desc}"
    );
    let secret = f.key.rsplit('_').next().expect("secret");
    assert!(!desc.contains(secret));
    let attempts = f.attempts().await;
    assert_eq!(attempts.len(), 1, "recorded on the key's stream");
    assert_eq!(
        attempts[0]["app"],
        format!("sk_{}_…", f.key.split('_').nth(1).expect("id"))
    );
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(a)::text FROM publish_attempts a")
            .fetch_all(&f.app.db)
            .await
            .expect("rows");
    assert!(
        rows.iter().all(|r| !r.contains(secret)),
        "the secret is never stored"
    );
    // A long app name is cut, not stored whole.
    let long = "x".repeat(5000);
    assert_eq!(
        code(&f.app.authorize(&long, &f.key, IP).await),
        "unknown_app"
    );
    let attempts = f.attempts().await;
    assert!(attempts[0]["app"].as_str().expect("app").chars().count() <= 65);
}

#[tokio::test]
async fn one_live_session_per_stream_quota_heartbeat_and_lost_nodes() {
    let f = fixture_with(|c| c.node_lost_secs = 2).await;
    let app = &f.app;
    // Without a reconnect window a takeover starts a new session (with one, it continues the old
    // one: see tests/sessions.rs).
    f.patch(json!({"reconnect_window_seconds": 0})).await;
    let live = app.authorize_live(&f.key, IP).await;
    assert_eq!(code(&live), "allow");

    // Another valid key while live: already_live. The same key: takeover.
    let (_, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/streams/{}/keys", f.stream),
            &f.t.token,
            Some(json!({"grace_seconds": 600})),
        )
        .await;
    let other = rotated["stream_key"].as_str().expect("key").to_string();
    assert_eq!(code(&app.authorize_live(&other, IP).await), "already_live");
    let taken = app.authorize_live(&f.key, IP).await;
    assert_eq!(code(&taken), "allow");
    assert_ne!(taken["session_id"], live["session_id"]);
    assert_eq!(taken["resumed"], false);

    // The heartbeat of the node tells it to cut the old session, not the new one.
    let beat = |sessions: Value| {
        app.req(Method::POST, "/internal/v1/nodes/heartbeat")
            .bearer_auth(common::NODE_SECRET)
            .json(&json!({"node_id": "test-node", "version": "t", "sessions": sessions,
                          "endpoints": {"rtmp": "rtmp://10.0.0.5:1935", "rtmps": null, "hls": "https://hls.example"}}))
            .send()
    };
    let entry = |v: &Value, key: &str| {
        json!({"session_id": v["session_id"], "stream_id": v["stream_id"], "tenant_id": v["tenant_id"],
               "key_id": key.split('_').nth(1)})
    };
    let answer: Value = beat(json!([entry(&live, &f.key), entry(&taken, &f.key)]))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let cut = answer["disconnect"].as_array().expect("list");
    assert_eq!(cut.len(), 1, "{answer}");
    // The node registered where it can be reached.
    let (rtmp, hls): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT rtmp_url, hls_url FROM ingest_nodes WHERE id = 'test-node'")
            .fetch_one(&app.db)
            .await
            .expect("node");
    assert_eq!(rtmp.as_deref(), Some("rtmp://10.0.0.5:1935"));
    assert_eq!(hls.as_deref(), Some("https://hls.example"));
    assert_eq!(cut[0]["session_id"], live["session_id"]);
    assert_eq!(cut[0]["reason"], "takeover");

    // Tenant quota of one live stream: a second stream is refused while the first is live.
    sqlx::query("UPDATE tenants SET max_concurrent_live = 1")
        .execute(&app.db)
        .await
        .expect("quota");
    let (_, key2) = app.create_stream(&f.t.token, "second").await;
    let v = app.authorize_live(&key2, IP).await;
    assert_eq!(code(&v), "tenant_quota");

    // The node goes quiet: its sessions end as node_lost and the stream is idle again.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let (_, s) = app
        .call(
            Method::GET,
            &format!("/v1/streams/{}", f.stream),
            &f.t.token,
            None,
        )
        .await;
    assert_eq!(s["status"], "idle", "{s}");
    let reason: Option<String> =
        sqlx::query_scalar("SELECT end_reason FROM publish_sessions WHERE id = $1")
            .bind(uuid::Uuid::parse_str(taken["session_id"].as_str().expect("id")).expect("uuid"))
            .fetch_one(&app.db)
            .await
            .expect("row");
    assert_eq!(reason.as_deref(), Some("node_lost"));
    assert_eq!(
        code(&app.authorize_live(&key2, IP).await),
        "allow",
        "the quota is free again"
    );
}

/// The live claim (`inlet_publish_claim`): its refusals are recorded with their sentence and change
/// nothing else; a session whose reconnect window is over is ended by the next publish, which
/// starts a new one.
#[tokio::test]
async fn claim_refusals_change_nothing_and_an_elapsed_window_ends_the_old_session() {
    let f = fixture().await;
    let app = &f.app;
    let session_of =
        |v: &Value| uuid::Uuid::parse_str(v["session_id"].as_str().expect("id")).expect("uuid");
    let session_state = |id: uuid::Uuid| async move {
        sqlx::query_as::<_, (Option<String>, i32)>(
            "SELECT end_reason, reconnects FROM publish_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("session")
    };
    let live = app.authorize_live(&f.key, IP).await;
    assert_eq!(code(&live), "allow");
    let first = session_of(&live);

    // Another key of the stream while it is live: refused, recorded with the sentence, and the live
    // session is untouched.
    let other = f.rotate(json!({"grace_seconds": 600})).await;
    let refused = app.authorize_live(&other, IP).await;
    assert_eq!(code(&refused), "already_live");
    assert!(
        refused["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Another publisher is live")),
        "{refused}"
    );
    let attempts = f.attempts().await;
    assert_eq!(attempts[0]["reason_code"], "already_live");
    assert_eq!(attempts[0]["detail"], refused["description"]);
    assert_eq!(attempts[1]["result"], "accepted");
    assert_eq!(attempts[1]["detail"], "publish accepted");
    assert_eq!(session_state(first).await, (None, 0));

    // The publisher left 40 s ago and the 30 s window is over, but the sweep has not run: with the
    // tenant at its quota (another stream live) the publish is refused and the old session stays
    // as it was.
    sqlx::query("UPDATE publish_sessions SET disconnected_at = now() - interval '40 seconds', disconnect_reason = 'publisher_left' WHERE id = $1")
        .bind(first)
        .execute(&app.db)
        .await
        .expect("disconnect");
    let (_, key2) = app.create_stream(&f.t.token, "second").await;
    assert_eq!(code(&app.authorize_live(&key2, IP).await), "allow");
    sqlx::query("UPDATE tenants SET max_concurrent_live = 1")
        .execute(&app.db)
        .await
        .expect("quota");
    assert_eq!(code(&app.authorize_live(&f.key, IP).await), "tenant_quota");
    assert_eq!(session_state(first).await, (None, 0));

    // With room in the quota the same publish ends the old session (as the publisher left it) and
    // starts a new one.
    sqlx::query("UPDATE tenants SET max_concurrent_live = 5")
        .execute(&app.db)
        .await
        .expect("quota");
    let again = app.authorize_live(&f.key, IP).await;
    assert_eq!(code(&again), "allow");
    assert_eq!(again["resumed"], false);
    assert_ne!(session_of(&again), first);
    assert_eq!(
        session_state(first).await,
        (Some("publisher_left".to_string()), 0)
    );
    let active: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT active_session_id FROM streams WHERE id = $1::uuid")
            .bind(&f.stream)
            .fetch_one(&app.db)
            .await
            .expect("stream");
    assert_eq!(active, Some(session_of(&again)));
}
