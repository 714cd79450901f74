//! Setting up the system under test over its public API: a tenant and streams, as a customer would.

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
