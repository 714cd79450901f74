//! The OpenAPI document is OpenAPI 3.1, parses with a 3.1 model, resolves every reference, and lists
//! exactly the routes the router answers: every documented operation reaches a handler, and every
//! public route is documented.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Every public route of the API. Adding a route means adding it here and to the document (which
/// `utoipa-axum` does from the same registration).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/admin/v1/tenants"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/signup"),
    ("GET", "/v1/me"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/api-tokens"),
    ("POST", "/v1/api-tokens"),
    ("DELETE", "/v1/api-tokens/{id}"),
    ("GET", "/v1/streams"),
    ("POST", "/v1/streams"),
    ("GET", "/v1/streams/{id}"),
    ("PATCH", "/v1/streams/{id}"),
    ("DELETE", "/v1/streams/{id}"),
    ("POST", "/v1/streams/{id}/enable"),
    ("POST", "/v1/streams/{id}/disable"),
    ("GET", "/v1/streams/{id}/attempts"),
    ("GET", "/v1/streams/{id}/sessions"),
    ("GET", "/v1/streams/{id}/sessions/{session_id}/health"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/streams/{id}/keys"),
    ("POST", "/v1/streams/{id}/keys"),
    ("DELETE", "/v1/streams/{id}/keys/{key_id}"),
    ("POST", "/v1/streams/{id}/publish-tokens"),
    ("GET", "/v1/signing-keys"),
    ("POST", "/v1/signing-keys"),
    ("DELETE", "/v1/signing-keys/{id}"),
    ("GET", "/v1/ip-allowlist"),
    ("PUT", "/v1/ip-allowlist"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("POST", "/v1/events/{id}/redeliver"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("PATCH", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("POST", "/v1/webhooks/{id}/rotate-secret"),
    ("POST", "/v1/webhooks/{id}/test"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/recover"),
    ("GET", "/v1/audit-log"),
    ("GET", "/v1/members"),
    ("POST", "/v1/members"),
    ("PATCH", "/v1/members/{id}"),
    ("DELETE", "/v1/members/{id}"),
    ("POST", "/v1/members/{id}/password-reset"),
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/admin/v1/publish-signing-key/rotate"),
    ("POST", "/admin/v1/users/password-reset"),
];

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_3_1_and_matches_the_router() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let resp = app
        .req(Method::GET, "/v1/openapi.json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");

    let spec = oas3::from_json(&text).expect("parses as an OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1."), "version {}", spec.openapi);
    let raw: Value = serde_json::from_str(&text).expect("json");

    let mut refs = Vec::new();
    collect_refs(&raw, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(
            raw["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }

    let documented: BTreeSet<(String, String)> = spec
        .operations()
        .map(|(path, method, op)| {
            assert!(
                !op.responses(&spec).is_empty(),
                "{method} {path} documents its responses"
            );
            (method.as_str().to_string(), path)
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected, "document and router routes differ");

    // Every documented operation reaches a handler (not the no-route fallback, not 405).
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "01a211ba-0000-7000-8000-000000000000")
            .replace("{key_id}", "ZZZZZZZZZZ")
            .replace("{session_id}", "01a211ba-0000-7000-8000-000000000001");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let resp = app
            .as_token(method.clone(), &concrete, &t.token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !body.contains("/problems/no-route"),
            "{method} {path} has no handler"
        );
        assert!(status < 500, "{method} {path} answered {status}");
    }
}

#[tokio::test]
async fn list_parameters_are_documented_in_the_query() {
    let raw: Value = serde_json::from_str(&inlet_api::http::openapi_json()).expect("json");
    let mut wrong = Vec::new();
    for (path, item) in raw["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or("");
                if p["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    wrong.push(format!("{method} {path}: {name}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "path parameters that are not in the path: {wrong:?}"
    );
}
