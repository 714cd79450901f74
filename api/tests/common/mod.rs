//! Test harness: a real `inlet-api` on a real socket over a fresh PostgreSQL database, and a few
//! helpers to bootstrap tenants and call the API.

#![allow(dead_code)]

pub mod process;
pub mod receiver;

use inlet_api::ApiConfig;
use inlet_testsupport::TestDb;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::PgPool;

pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub admin_token: String,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A tenant created through the operator endpoint.
pub struct Tenant {
    pub id: String,
    pub token: String,
    pub token_id: String,
    pub email: String,
    pub password: String,
}

pub const PASSWORD: &str = "correct horse battery staple";
pub const NODE_SECRET: &str = "test-node-secret";

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let tdb = TestDb::new().await;
        let db = inlet_api::connect(&tdb.url, 5, std::time::Duration::from_secs(10))
            .await
            .expect("connect and migrate");
        let mut config = ApiConfig::defaults();
        config.database_url = Some(tdb.url.clone());
        config.admin_token = Some(format!("test-operator-{}", tdb.name));
        config.rate_limit_per_token = 100_000;
        config.rate_limit_per_tenant = 100_000;
        config.rate_limit_per_ip = 100_000;
        config.node_secret = Some(NODE_SECRET.to_string());
        config.secret_key = Some(format!("test-secret-key-{}", tdb.name));
        configure(&mut config);
        let admin_token = config.admin_token.clone().unwrap_or_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_db = db.clone();
        tokio::spawn(async move {
            inlet_api::serve(listener, serve_db, config, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestApp {
            base,
            db,
            admin_token,
            client: reqwest::Client::builder().build().expect("client"),
            shutdown: Some(tx),
        }
    }

    /// A handle on an API running elsewhere (a real `inlet-api` process, see `process`): the same
    /// helpers, no server of its own; `db` is a pool on that API's database.
    pub fn attach(base: &str, db: PgPool, admin_token: &str) -> TestApp {
        TestApp {
            base: base.to_string(),
            db,
            admin_token: admin_token.to_string(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            shutdown: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request authenticated with an API token.
    pub fn as_token(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.req(method, path).bearer_auth(token)
    }

    pub async fn create_tenant(&self, name: &str) -> Tenant {
        let email = format!("owner-{}@{}.example", uuid_like(), name);
        let resp = self
            .req(Method::POST, "/admin/v1/tenants")
            .bearer_auth(&self.admin_token)
            .json(&json!({"name": name, "owner_email": email, "owner_password": PASSWORD}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 201, "create tenant");
        let body: Value = resp.json().await.expect("json");
        Tenant {
            id: body["tenant"]["id"]
                .as_str()
                .expect("tenant id")
                .to_string(),
            token: body["api_token"]["token"]
                .as_str()
                .expect("token")
                .to_string(),
            token_id: body["api_token"]["id"]
                .as_str()
                .expect("token id")
                .to_string(),
            email,
            password: PASSWORD.to_string(),
        }
    }

    /// Creates a stream, returning (stream object, stream key).
    pub async fn create_stream(&self, token: &str, name: &str) -> (Value, String) {
        let resp = self
            .as_token(Method::POST, "/v1/streams", token)
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 201, "create stream");
        let body: Value = resp.json().await.expect("json");
        (
            body["stream"].clone(),
            body["stream_key"].as_str().expect("key").to_string(),
        )
    }
}

impl TestApp {
    /// Calls the internal authorize endpoint as an ingest node would; an accepted publish ends at once
    /// (as if the publisher left), so each call is a decision on its own.
    pub async fn authorize(&self, app: &str, publish_name: &str, client_ip: &str) -> Value {
        self.authorize_with(json!({
            "app": app, "publish_name": publish_name, "client_ip": client_ip, "tls": false, "node_id": "test-node"
        }))
        .await
    }

    /// Like `authorize`, but an accepted publish stays live.
    pub async fn authorize_live(&self, publish_name: &str, client_ip: &str) -> Value {
        self.authorize_raw(json!({
            "app": "live", "publish_name": publish_name, "client_ip": client_ip, "tls": false, "node_id": "test-node"
        }))
        .await
    }

    pub async fn authorize_with(&self, body: Value) -> Value {
        let node = body["node_id"].as_str().unwrap_or("test-node").to_string();
        let v = self.authorize_raw(body).await;
        if v["decision"] == "allow" {
            self.end_session_on(&v, &node, "publisher_left").await;
        }
        v
    }

    /// Reports the end of an accepted session, as the ingest does.
    pub async fn end_session(&self, allow: &Value, reason: &str) {
        self.end_session_on(allow, "test-node", reason).await
    }

    /// Reports the end of an accepted session from `node`.
    pub async fn end_session_on(&self, allow: &Value, node: &str, reason: &str) {
        self.event(allow, node, json!({"type": "ended", "reason": reason}))
            .await;
    }

    /// Reports one session event of an accepted session (`kind`: `type` and its fields) from `node`,
    /// now.
    pub async fn event(&self, allow: &Value, node: &str, kind: Value) {
        self.event_at(allow, node, chrono::Utc::now(), kind).await
    }

    /// Reports one session event at `at`.
    pub async fn event_at(
        &self,
        allow: &Value,
        node: &str,
        at: chrono::DateTime<chrono::Utc>,
        kind: Value,
    ) {
        let mut e = json!({
            "session_id": allow["session_id"], "stream_id": allow["stream_id"], "tenant_id": allow["tenant_id"],
            "node_id": node, "at": at
        });
        if let (Some(e), Some(k)) = (e.as_object_mut(), kind.as_object()) {
            e.extend(k.clone());
        }
        let resp = self
            .req(Method::POST, "/internal/v1/sessions/events")
            .bearer_auth(NODE_SECRET)
            .json(&json!({"events": [e]}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 204, "session event stored");
    }

    /// Calls authorize as `node` for `publish_name`; an accepted publish stays live.
    pub async fn authorize_on(&self, node: &str, publish_name: &str, client_ip: &str) -> Value {
        self.authorize_raw(json!({
            "app": "live", "publish_name": publish_name, "client_ip": client_ip, "tls": false, "node_id": node
        }))
        .await
    }

    /// A node's heartbeat listing `sessions` (allow answers, with the key id they were accepted on);
    /// answers the ids of the sessions it must cut.
    pub async fn heartbeat(&self, node: &str, sessions: &[&Value]) -> Vec<(String, String)> {
        let list: Vec<Value> = sessions
            .iter()
            .map(|v| {
                json!({"session_id": v["session_id"], "stream_id": v["stream_id"],
                       "tenant_id": v["tenant_id"], "key_id": v["key_id"]})
            })
            .collect();
        let resp = self
            .req(Method::POST, "/internal/v1/nodes/heartbeat")
            .bearer_auth(NODE_SECRET)
            .json(&json!({"node_id": node, "version": "t", "sessions": list}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "heartbeat answers 200");
        let body: Value = resp.json().await.expect("json");
        body["disconnect"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            d["session_id"].as_str().unwrap_or_default().to_string(),
                            d["reason"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn authorize_raw(&self, body: Value) -> Value {
        let resp = self
            .req(Method::POST, "/internal/v1/publish/authorize")
            .bearer_auth(NODE_SECRET)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "authorize answers 200");
        resp.json().await.expect("json")
    }

    /// Creates a webhook endpoint with `body` (`url` and the rest); answers (webhook, secret).
    pub async fn create_webhook(&self, token: &str, body: Value) -> (Value, String) {
        let (status, v) = self
            .call(Method::POST, "/v1/webhooks", token, Some(body))
            .await;
        assert_eq!(status, 201, "create webhook: {v}");
        let secret = v["secret"].as_str().expect("secret").to_string();
        (v["webhook"].clone(), secret)
    }

    /// Sends a JSON request with a token and returns (status, body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.as_token(method, path, token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(8)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// Asserts an answer is problem+json with the given status; returns the problem.
pub async fn problem(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status of {}", resp.url());
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/"))
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// The fields named by a problem's `errors`.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
