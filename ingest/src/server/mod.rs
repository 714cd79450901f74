//! The IO shell around the RTMP core: TCP and TLS listeners, one task per connection, timeouts and
//! connection limits, authorization through the API, and the HTTP endpoints (`/healthz`, `/readyz`,
//! `/metrics`).

pub mod http;
