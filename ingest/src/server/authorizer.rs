//! The ingest's client of the API's internal authorize call (docs/api.md, "Internal API"): rustls,
//! a keep-alive pool, a short timeout, and fail-closed: anything but a well-formed answer is
//! `control_plane_unavailable`.

use std::net::IpAddr;
use std::time::Duration;

use inlet_contract::publish::{
    AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse, Deny, ReasonCode,
};

pub struct ApiClient {
    http: reqwest::Client,
    url: String,
    node_secret: String,
    node_id: String,
}

/// What the connection knows when it asks.
pub struct PublishRequest<'a> {
    pub app: &'a str,
    pub publish_name: &'a str,
    pub connect_query: Option<&'a str>,
    pub client_ip: IpAddr,
    pub tls: bool,
}

impl ApiClient {
    pub fn new(
        api_url: &str,
        node_secret: &str,
        node_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<ApiClient> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(ApiClient {
            http,
            url: format!("{}{AUTHORIZE_PATH}", api_url.trim_end_matches('/')),
            node_secret: node_secret.to_string(),
            node_id: node_id.to_string(),
        })
    }

    /// The HTTP client (a keep-alive pool to the API), shared with the session reporter.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Asks the API; never fails: an unreachable or confused API refuses the publish.
    pub async fn authorize(&self, req: PublishRequest<'_>) -> AuthorizeResponse {
        let body = AuthorizeRequest {
            app: req.app.to_string(),
            publish_name: req.publish_name.to_string(),
            connect_query: req.connect_query.map(str::to_string),
            client_ip: req.client_ip,
            tls: req.tls,
            node_id: self.node_id.clone(),
        };
        let result = async {
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(&self.node_secret)
                .json(&body)
                .send()
                .await?;
            let status = resp.status();
            if !status.is_success() {
                anyhow::bail!("the API answered {status}");
            }
            Ok::<_, anyhow::Error>(resp.json::<AuthorizeResponse>().await?)
        }
        .await;
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "authorize call failed; refusing the publish (fail closed)");
            AuthorizeResponse::Deny(Deny {
                reason_code: ReasonCode::ControlPlaneUnavailable,
                description:
                    "The ingest cannot reach the control plane right now; retry in a few seconds."
                        .into(),
            })
        })
    }
}
