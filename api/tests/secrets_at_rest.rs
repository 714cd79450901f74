//! A dump of the database yields no usable password, API token, session or stream key: every secret
//! that was shown once is searched for in every column of every table.

mod common;

use common::{PASSWORD, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

/// Every row of every table in the public schema, as JSON text (bytea shows as hex, so a raw secret
/// would still be found).
async fn dump(db: &sqlx::PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(db)
    .await
    .expect("tables");
    assert!(tables.len() >= 6, "schema has tables: {tables:?}");
    let mut out = String::new();
    for t in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(x)::text FROM \"{t}\" x"))
                .fetch_all(db)
                .await
                .expect("rows");
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

fn secret_part(full: &str) -> &str {
    full.rsplit('_').next().unwrap_or(full)
}

#[tokio::test]
async fn database_dump_contains_no_usable_secret() {
    let app = TestApp::start().await;
    let t = app.create_tenant("acme").await;
    let (_, key) = app.create_stream(&t.token, "studio").await;

    // An idempotent create stores its answer: the replayed key must not be readable from the dump.
    let resp = app
        .as_token(Method::POST, "/v1/streams", &t.token)
        .header("Idempotency-Key", "0b9a3a4e-4c1e-4c7e-9a43-7d3f5e2d8c11")
        .json(&json!({"name": "idem"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let idem_key = resp.json::<Value>().await.expect("json")["stream_key"]
        .as_str()
        .expect("key")
        .to_string();

    let resp = app
        .as_token(Method::POST, "/v1/api-tokens", &t.token)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .expect("send");
    let second_token = resp.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("tok")
        .to_string();

    let resp = app
        .req(Method::POST, "/v1/auth/login")
        .json(&json!({"email": t.email, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("session cookie");

    let dump = dump(&app.db).await;
    assert!(dump.contains("studio"), "the dump is real");
    for secret in [
        t.token.as_str(),
        second_token.as_str(),
        key.as_str(),
        idem_key.as_str(),
        cookie.as_str(),
        PASSWORD,
    ] {
        assert!(!dump.contains(secret), "dump contains a shown secret");
        assert!(
            !dump.contains(secret_part(secret)),
            "dump contains a secret part"
        );
    }
    // Hashes are there instead: the password as argon2id.
    assert!(dump.contains("$argon2id$"));
}
