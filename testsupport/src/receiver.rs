//! A real HTTP receiver for webhook tests: an axum server on 127.0.0.1 that records every request
//! (arrival time, headers, body) and answers what the test's `behave` function says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn event_id(&self) -> String {
        self.json()["id"].as_str().unwrap_or_default().to_string()
    }
}

/// What the receiver answers to one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
}

/// `behave(request, how many requests with this webhook-id came before it)`.
type Behave = dyn Fn(&Received, usize) -> Reply + Send + Sync;

struct Inner {
    log: Mutex<Vec<Received>>,
    behave: Box<Behave>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let r = Received {
        at: Instant::now(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
    };
    let reply = {
        let mut log = inner.log.lock().unwrap_or_else(|p| p.into_inner());
        let before = log
            .iter()
            .filter(|x| x.header("webhook-id") == r.header("webhook-id"))
            .count();
        log.push(r.clone());
        (inner.behave)(&r, before)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

impl Receiver {
    /// A receiver answering 204 to everything.
    pub async fn start() -> Receiver {
        Self::with(|_, _| Reply::status(204)).await
    }

    pub async fn with(
        behave: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let inner = Arc::new(Inner {
            log: Mutex::new(Vec::new()),
            behave: Box::new(behave),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!(
            "http://{}/hooks/inlet",
            listener.local_addr().expect("addr")
        );
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inner }
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `done(received)` holds, up to `within`; panics with what arrived otherwise.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let types: Vec<String> = got
                    .iter()
                    .map(|r| {
                        let j = r.json();
                        format!("{} #{}", j["type"].as_str().unwrap_or("?"), j["sequence"])
                    })
                    .collect();
                panic!("receiver: {what} not seen within {within:?}; got {types:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until an event of `kind` arrived; answers it.
    pub async fn wait_type(&self, kind: &str, within: Duration) -> Received {
        let got = self
            .wait_for(within, kind, |r| r.iter().any(|x| x.json()["type"] == kind))
            .await;
        got.into_iter()
            .find(|x| x.json()["type"] == kind)
            .expect("present")
    }
}
