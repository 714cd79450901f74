//! Setting up the system under test over its public API as a customer would (a tenant, streams, a
//! webhook endpoint), and reading its `/metrics`.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The operator token the benchmarks give the servers they start.
pub const ADMIN_TOKEN: &str = "bench-operator-token";

/// The JSON body of a successful answer; anything else is an error naming `what` failed.
pub async fn expect_json(
    resp: reqwest::Result<reqwest::Response>,
    what: &str,
) -> anyhow::Result<Value> {
    let resp = resp.with_context(|| format!("could not {what}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("could not {what}: HTTP {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("could not {what}: the answer is not JSON"))
}

/// Creates a tenant and `n` streams; returns the tenant's API token and the streams' ids and keys.
pub async fn create_streams(
    http: &reqwest::Client,
    api: &str,
    n: usize,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let tenant = expect_json(
        http.post(format!("{api}/admin/v1/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({
                "name": "bench",
                "owner_email": "owner@bench.example",
                "owner_password": "bench password, not secret",
            }))
            .send()
            .await,
        "create the tenant",
    )
    .await?;
    let token = tenant["api_token"]["token"]
        .as_str()
        .context("the tenant answer has no api_token.token")?
        .to_string();
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let created = expect_json(
            http.post(format!("{api}/v1/streams"))
                .bearer_auth(&token)
                .json(&json!({ "name": format!("bench-{i}") }))
                .send()
                .await,
            "create a stream",
        )
        .await?;
        let id = created["stream"]["id"]
            .as_str()
            .context("the stream answer has no stream.id")?
            .to_string();
        let key = created["stream_key"]
            .as_str()
            .context("the stream answer has no stream_key")?
            .to_string();
        keys.push((id, key));
    }
    Ok((token, keys))
}

/// The text of `GET <base>/metrics`.
pub async fn scrape(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .context("could not scrape /metrics")?;
    let status = resp.status();
    if !status.is_success() {
        bail!("GET /metrics answered HTTP {status}");
    }
    Ok(resp.text().await?)
}

/// Registers a webhook endpoint for every event type of every stream; returns its id.
pub async fn create_webhook(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    url: &str,
    ordering: &str,
) -> anyhow::Result<String> {
    let created = expect_json(
        http.post(format!("{api}/v1/webhooks"))
            .bearer_auth(token)
            .json(&json!({ "url": url, "ordering": ordering, "description": "bench receiver" }))
            .send()
            .await,
        "create the webhook",
    )
    .await?;
    Ok(created["webhook"]["id"]
        .as_str()
        .context("the webhook answer has no webhook.id")?
        .to_string())
}
