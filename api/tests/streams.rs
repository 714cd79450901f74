//! Stream CRUD (docs/api.md): create with the key shown once, list with cursor pagination
//! and status filter, get, patch, enable/disable, delete.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn created_stream_has_the_spec_shape_and_a_key_shown_once() {
    let app = TestApp::start_with(|c| {
        c.public_rtmp_url = "rtmp://ingest.example.com/live".into();
        c.public_rtmps_url = "rtmps://ingest.example.com:443/live".into();
    })
    .await;
    let t = app.create_tenant("acme").await;
    let (s, key) = app.create_stream(&t.token, "studio-a").await;
    for field in [
        "id",
        "name",
        "status",
        "enabled",
        "auth_mode",
        "ingest",
        "playback",
        "limits",
        "ip_allowlist",
        "reconnect_window_seconds",
        "created_at",
        "last_live_at",
        "active_session",
    ] {
        assert!(s.get(field).is_some(), "stream lacks {field}");
    }
    assert_eq!(s["status"], "idle");
    assert_eq!(s["auth_mode"], "key");
    assert_eq!(s["playback"], Value::Null);
    assert_eq!(s["reconnect_window_seconds"], 30);
    assert_eq!(
        s["ingest"]["rtmp"]["server"],
        "rtmp://ingest.example.com/live"
    );
    assert_eq!(
        s["ingest"]["rtmps"]["server"],
        "rtmps://ingest.example.com:443/live"
    );
    assert_eq!(s["limits"]["video_codecs"], json!(["h264"]));

    // sk_<10 id>_<32 secret>, the hint is the public prefix only.
    let parts: Vec<&str> = key.split('_').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("sk", 10, 32));
    let hint = s["ingest"]["rtmp"]["stream_key_hint"]
        .as_str()
        .expect("hint");
    assert_eq!(hint, format!("sk_{}…", parts[1]));

    // GET never shows the key again.
    let id = s["id"].as_str().expect("id");
    let got: Value = app
        .as_token(Method::GET, &format!("/v1/streams/{id}"), &t.token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(got["name"], "studio-a");
    assert!(!got.to_string().contains(parts[2]));
}

#[tokio::test]
async fn list_paginates_with_cursor_and_filters_by_status() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, _) = app.create_stream(&t.token, &format!("s{i}")).await;
        ids.push(s["id"].as_str().expect("id").to_string());
    }
    // Disable s1.
    let resp = app
        .as_token(
            Method::POST,
            &format!("/v1/streams/{}/disable", ids[1]),
            &t.token,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["status"],
        "disabled"
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/streams?limit=2&cursor={c}"),
            None => "/v1/streams?limit=2".to_string(),
        };
        let page: Value = app
            .as_token(Method::GET, &path, &t.token)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        pages += 1;
        for s in page["data"].as_array().expect("data") {
            seen.push(s["name"].as_str().expect("name").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        vec!["s4", "s3", "s2", "s1", "s0"],
        "newest first, no gaps or repeats"
    );

    let names = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|s| s["name"].as_str().expect("n").to_string())
            .collect()
    };
    let idle: Value = app
        .as_token(Method::GET, "/v1/streams?status=idle", &t.token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(names(idle), vec!["s4", "s3", "s2", "s0"]);
    let disabled: Value = app
        .as_token(Method::GET, "/v1/streams?status=disabled", &t.token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(names(disabled), vec!["s1"]);
    let live: Value = app
        .as_token(Method::GET, "/v1/streams?status=live", &t.token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(names(live).is_empty());

    // Enable again.
    let resp = app
        .as_token(
            Method::POST,
            &format!("/v1/streams/{}/enable", ids[1]),
            &t.token,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.json::<Value>().await.expect("json")["status"], "idle");
}

#[tokio::test]
async fn patch_changes_only_given_fields_and_delete_removes() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (s, _) = app.create_stream(&t.token, "studio").await;
    let id = s["id"].as_str().expect("id");
    let path = format!("/v1/streams/{id}");

    let resp = app
        .as_token(Method::PATCH, &path, &t.token)
        .json(&json!({
            "name": "renamed",
            "auth_mode": "key+token",
            "limits": {"max_bitrate_kbps": 6000, "video_codecs": ["h264", "hevc"]},
            "ip_allowlist": ["203.0.113.7/24", "2001:db8::1"],
            "reconnect_window_seconds": 60
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let p: Value = resp.json().await.expect("json");
    assert_eq!(p["name"], "renamed");
    assert_eq!(p["auth_mode"], "key+token");
    assert_eq!(p["limits"]["max_bitrate_kbps"], 6000);
    assert_eq!(
        p["limits"]["max_fps"], s["limits"]["max_fps"],
        "untouched limit kept"
    );
    assert_eq!(p["limits"]["video_codecs"], json!(["h264", "hevc"]));
    assert_eq!(
        p["ip_allowlist"],
        json!(["203.0.113.0/24", "2001:db8::1/128"]),
        "normalised"
    );
    assert_eq!(p["reconnect_window_seconds"], 60);
    assert_eq!(p["created_at"], s["created_at"]);

    // An invalid patch changes nothing.
    let resp = app
        .as_token(Method::PATCH, &path, &t.token)
        .json(&json!({"name": "again", "limits": {"max_width": 0}}))
        .send()
        .await
        .expect("send");
    problem(resp, 422).await;
    let now: Value = app
        .as_token(Method::GET, &path, &t.token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(now["name"], "renamed");

    let resp = app
        .as_token(Method::DELETE, &path, &t.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    problem(
        app.as_token(Method::GET, &path, &t.token)
            .send()
            .await
            .expect("send"),
        404,
    )
    .await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM stream_keys")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(keys, 0, "keys go with the stream");
}
