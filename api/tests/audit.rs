//! The audit log covers what its title claims (docs/api.md, "Audit log"): the allowlist, a stream's
//! auth mode, limits and allowlist (with the values before and after), stream deletion, API tokens
//! and webhooks; no entry holds a secret.

mod common;

use common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

fn actions(log: &Value) -> Vec<String> {
    log["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn security_relevant_changes_are_audited_with_before_and_after() {
    let app = TestApp::start_with(|c| c.webhook_concurrency = 0).await;
    let t = app.create_tenant("acme").await;
    let (stream, key) = app.create_stream(&t.token, "studio").await;
    let id = stream["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/streams/{id}"),
            &t.token,
            Some(
                json!({"auth_mode": "key+token", "ip_allowlist": ["192.0.2.0/24"],
                        "limits": {"max_bitrate_kbps": 6000}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    app.call(
        Method::POST,
        &format!("/v1/streams/{id}/disable"),
        &t.token,
        None,
    )
    .await;
    let (_, tok) = app
        .call(
            Method::POST,
            "/v1/api-tokens",
            &t.token,
            Some(json!({"name": "ci"})),
        )
        .await;
    let secret = tok["token"].as_str().expect("token").to_string();
    let tok_id = tok["id"].as_str().expect("id").to_string();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/api-tokens/{tok_id}"),
            &t.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.call(
        Method::PUT,
        "/v1/ip-allowlist",
        &t.token,
        Some(json!({"ip_allowlist": ["198.51.100.0/24"]})),
    )
    .await;
    app.call(Method::DELETE, &format!("/v1/streams/{id}"), &t.token, None)
        .await;

    let (_, log) = app
        .call(Method::GET, "/v1/audit-log?limit=100", &t.token, None)
        .await;
    let acts = actions(&log);
    for want in [
        "stream.created",
        "stream.updated",
        "api_token.created",
        "api_token.revoked",
        "ip_allowlist.updated",
        "stream.deleted",
    ] {
        assert!(acts.iter().any(|a| a == want), "{want} in {acts:?}");
    }
    let updates: Vec<&Value> = log["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["action"] == "stream.updated")
        .collect();
    assert_eq!(updates.len(), 2, "the patch and the disable");
    let patch = updates
        .iter()
        .find(|e| e["details"]["changed"].to_string().contains("auth_mode"))
        .expect("the patch");
    assert_eq!(patch["details"]["before"]["auth_mode"], "key");
    assert_eq!(patch["details"]["after"]["auth_mode"], "key+token");
    assert_eq!(
        patch["details"]["after"]["ip_allowlist"],
        json!(["192.0.2.0/24"])
    );
    assert_eq!(
        patch["details"]["after"]["limits"]["max_bitrate_kbps"],
        6000
    );
    let disable = updates
        .iter()
        .find(|e| e["details"]["changed"] == json!(["enabled"]))
        .expect("the disable");
    assert_eq!(disable["details"]["before"]["enabled"], true);
    assert_eq!(disable["details"]["after"]["enabled"], false);
    let text = log.to_string();
    assert!(
        !text.contains(&secret),
        "no API token secret in the audit log"
    );
    assert!(!text.contains(&key), "no stream key in the audit log");
}
