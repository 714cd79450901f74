//! The state shared by the HTTP handlers and the background workers (`ApiContext`): the database
//! pool, the configuration, the metrics registry, the rate limiter, the brute-force guard and the
//! sealing key. Built once by `ApiContext::new` and handed down; it knows nothing of HTTP routing.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::config::ApiConfig;

/// State shared by every handler and worker.
#[derive(Clone)]
pub struct ApiContext {
    pub db: PgPool,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// The rendered OpenAPI document.
    pub openapi: Arc<String>,
    /// Brute-force protection of publish authorization.
    pub auth_guard: Arc<crate::authorize::FailureGuard>,
    /// Key sealing the API's publish-token signing keys and the webhook secrets (derived from
    /// INLET_SECRET_KEY).
    pub seal_key: [u8; 32],
}

impl ApiContext {
    pub fn new(db: PgPool, config: ApiConfig) -> ApiContext {
        crate::domain::publish_token::install_crypto_provider();
        let config = Arc::new(config);
        ApiContext {
            db,
            config: config.clone(),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            limiter: Arc::new(crate::ratelimit::RateLimiter::default()),
            openapi: Arc::new(crate::http::openapi_json()),
            auth_guard: Arc::new(crate::authorize::FailureGuard::new(
                config.auth_max_failures,
                Duration::from_secs(config.auth_failure_window_secs),
                Duration::from_secs(config.auth_cooldown_secs),
            )),
            seal_key: seal_key(&config),
        }
    }
}

fn seal_key(config: &ApiConfig) -> [u8; 32] {
    match &config.secret_key {
        Some(k) => crate::domain::crypto::derive_key("inlet-seal-v1", &[k]),
        None => {
            tracing::warn!(
                "INLET_SECRET_KEY is unset: secrets sealed by this process (publish-token signing keys, webhook secrets) cannot be read after a restart"
            );
            crate::domain::crypto::derive_key(
                "inlet-seal-v1",
                &[&crate::domain::credentials::random_text(43)],
            )
        }
    }
}
