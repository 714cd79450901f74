//! The outbound HTTP client of webhook deliveries, built so that it cannot be turned against the
//! operator's network (docs/webhooks.md, "No server-side request forgery"): rustls, no proxy, no
//! redirects (a 3xx is a failure), a total timeout, responses read up to 64 KiB, and a resolver that
//! checks every address a name resolves to and hands the connector only the ones that passed, so
//! the connection goes to a checked address and there is no second lookup for DNS rebinding to
//! use. Address literals in URLs are checked before sending (they are not resolved).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::{self, MAX_RESPONSE_READ, MAX_RESPONSE_STORED};

/// What one POST gave.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status, when the receiver answered.
    pub status: Option<u16>,
    /// `Retry-After` of a 429 or 503, when given.
    pub retry_after: Option<Duration>,
    /// The start of the body (at most 4 KiB, lossy UTF-8).
    pub excerpt: String,
    /// Why there is no answer, or why the answer is not a success.
    pub error: Option<String>,
    pub latency: Duration,
}

impl Answer {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Refuses names that resolve only to refused addresses, and drops refused addresses from the rest.
struct CheckedResolver {
    allow_private: bool,
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let passed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow_private || webhook::refused_address(a.ip()).is_none())
                .collect();
            if passed.is_empty() {
                let shown: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to addresses webhooks may not reach ({})",
                    if shown.is_empty() {
                        "none".to_string()
                    } else {
                        shown.join(", ")
                    }
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(passed.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookClient {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<WebhookClient> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .user_agent(concat!("Inlet-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(WebhookClient {
            http,
            allow_private,
        })
    }

    /// POSTs `body` with `headers`; never fails, the answer says what happened.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let started = Instant::now();
        let fail = |error: String| Answer {
            status: None,
            retry_after: None,
            excerpt: String::new(),
            error: Some(error),
            latency: started.elapsed(),
        };
        // The URL was checked at creation; the rules may have changed since (the operator's
        // switch), and literals are not resolved, so they are checked here.
        if let Err(e) = webhook::check_url(url, self.allow_private) {
            return fail(format!("refused: the URL {e}"));
        }
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let mut resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => return fail(describe(&e)),
        };
        let status = resp.status().as_u16();
        let retry_after = if status == 429 || status == 503 {
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
        } else {
            None
        };
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut read_error = None;
        while body.len() < MAX_RESPONSE_READ {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(describe(&e));
                    break;
                }
            }
        }
        body.truncate(MAX_RESPONSE_STORED);
        let mut excerpt = String::from_utf8_lossy(&body).into_owned();
        if excerpt.len() > MAX_RESPONSE_STORED {
            let mut cut = MAX_RESPONSE_STORED;
            while !excerpt.is_char_boundary(cut) {
                cut -= 1;
            }
            excerpt.truncate(cut);
        }
        let error = match status {
            200..=299 => None,
            300..=399 => Some(format!(
                "the receiver answered {status} (redirect to {}); redirects are not followed: set the webhook URL to the final address",
                location.as_deref().unwrap_or("nowhere")
            )),
            _ => Some(read_error.unwrap_or_else(|| format!("the receiver answered {status}"))),
        };
        Answer {
            status: Some(status),
            retry_after,
            excerpt,
            error,
            latency: started.elapsed(),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let secs = match v.parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            (at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64
        }
    };
    Some(Duration::from_secs(secs.min(86_400)))
}

/// A readable reason from a client error and its causes (a refused address names itself).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return format!("refused: {r}");
        }
        let text = s.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if e.is_timeout() {
        return format!("timed out ({})", parts.join(": "));
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
