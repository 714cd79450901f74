//! Configuration of the control plane: one struct, every field an environment variable and a CLI flag
//! with its default documented here and in docs/configuration.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Whether anyone may create a tenant through `POST /v1/auth/signup`.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum Signup {
    /// Only the operator creates tenants (`POST /admin/v1/tenants`).
    #[default]
    Closed,
    /// Public sign-up is on.
    Open,
}

#[derive(Clone, Debug, Args)]
pub struct ApiConfig {
    /// PostgreSQL URL. `inlet` starts a private cluster when unset; `inlet-api` requires it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address the REST API and dashboard listen on.
    #[arg(long, env = "INLET_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub api_listen: SocketAddr,
    /// Public base URL of the API and dashboard (default: http://<INLET_API_LISTEN>). An `https` URL
    /// marks session cookies `Secure`.
    #[arg(long, env = "INLET_PUBLIC_API_URL")]
    pub public_api_url: Option<String>,
    /// What streams show as OBS's Server field for RTMP.
    #[arg(
        long,
        env = "INLET_PUBLIC_RTMP_URL",
        default_value = "rtmp://127.0.0.1:1935/live"
    )]
    pub public_rtmp_url: String,
    /// What streams show as OBS's Server field for RTMPS.
    #[arg(
        long,
        env = "INLET_PUBLIC_RTMPS_URL",
        default_value = "rtmps://localhost:1936/live"
    )]
    pub public_rtmps_url: String,
    /// Operator token for /admin/v1. When unset, one is generated on first start, printed once and
    /// stored hashed.
    #[arg(long, env = "INLET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Public sign-up: `closed` (default) or `open`.
    #[arg(long, env = "INLET_SIGNUP", value_enum, default_value = "closed")]
    pub signup: Signup,
    /// Serve the dashboard's static files from this directory instead of those built into the
    /// binary (a development override: edit `web/` and reload without rebuilding). Unset: embedded.
    #[arg(long, env = "INLET_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Public URL of the HLS origin, which the dashboard's preview plays from (it goes into the
    /// dashboard's Content-Security-Policy). The all-in-one sets it from `INLET_HLS_PUBLIC_URL`.
    #[arg(
        long,
        env = "INLET_DASHBOARD_HLS_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub dashboard_hls_url: String,
    /// More origins the dashboard's preview may load media from (a CDN in front of the HLS
    /// origin), comma-separated.
    #[arg(long, env = "INLET_DASHBOARD_MEDIA_ORIGINS", default_value = "")]
    pub dashboard_media_origins: String,
    /// Requests per minute allowed to one API token or dashboard session.
    #[arg(long, env = "INLET_RATE_LIMIT_PER_TOKEN", default_value_t = 600)]
    pub rate_limit_per_token: u32,
    /// Requests per minute allowed to one tenant, all its tokens together.
    #[arg(long, env = "INLET_RATE_LIMIT_PER_TENANT", default_value_t = 1200)]
    pub rate_limit_per_tenant: u32,
    /// Requests per minute allowed to one client address on unauthenticated routes (login, sign-up).
    #[arg(long, env = "INLET_RATE_LIMIT_PER_IP", default_value_t = 60)]
    pub rate_limit_per_ip: u32,
    /// Request timeout, seconds.
    #[arg(long, env = "INLET_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Maximum request body, bytes.
    #[arg(long, env = "INLET_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Dashboard session lifetime, hours.
    #[arg(long, env = "INLET_SESSION_TTL_HOURS", default_value_t = 12)]
    pub session_ttl_hours: i64,
    /// Origins allowed by CORS (comma-separated). Empty (default): CORS off.
    #[arg(long, env = "INLET_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// RTMP apps served (the path of OBS's Server field), comma-separated.
    #[arg(
        long,
        env = "INLET_RTMP_APPS",
        value_delimiter = ',',
        default_value = "live"
    )]
    pub rtmp_apps: Vec<String>,
    /// Key that seals secrets the API must keep readable (its publish-token signing keys). Any long
    /// random string; required by `inlet-api`, generated into <INLET_DATA_DIR>/secret.key by `inlet`.
    #[arg(long, env = "INLET_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Credential failures (bad key, bad token) from one address within the window that start a cool-down.
    #[arg(long, env = "INLET_AUTH_MAX_FAILURES", default_value_t = 10)]
    pub auth_max_failures: u32,
    /// Window in which authorize failures are counted, seconds.
    #[arg(long, env = "INLET_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,
    /// Cool-down during which a failing address is refused without a database lookup, seconds.
    #[arg(long, env = "INLET_AUTH_COOLDOWN_SECS", default_value_t = 300)]
    pub auth_cooldown_secs: u64,
    /// Longest publish-token lifetime that can be minted, seconds.
    #[arg(long, env = "INLET_PUBLISH_TOKEN_MAX_TTL_SECS", default_value_t = 7 * 86_400)]
    pub publish_token_max_ttl_secs: i64,
    /// A node not heard from for this long has its sessions ended (`node_lost`), seconds.
    #[arg(long, env = "INLET_NODE_LOST_SECS", default_value_t = 15)]
    pub node_lost_secs: u64,
    /// Node secret shared with ingest nodes (from INLET_NODE_SECRET; see the common settings).
    #[arg(skip)]
    pub node_secret: Option<String>,
    /// Allow webhook URLs with `http://` and deliveries to loopback, private, link-local and other
    /// non-public addresses. For local development and tests only (docs/webhooks.md).
    #[arg(long, env = "INLET_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// Webhook deliveries in flight at once in this process; 0 turns this replica's delivery
    /// worker off (another replica delivers).
    #[arg(long, env = "INLET_WEBHOOK_CONCURRENCY", default_value_t = 64)]
    pub webhook_concurrency: usize,
    /// Timeout of one webhook delivery (connect to last byte), seconds.
    #[arg(long, env = "INLET_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,
    /// Delays of the retries after a failed first try (each ±20 % jitter), comma-separated, with
    /// units `s`, `m`, `h`; after the last one the delivery is exhausted.
    #[arg(
        long,
        env = "INLET_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,14h,20h,24h"
    )]
    pub webhook_retry_schedule: String,
    /// An endpoint whose every attempt failed for this long is disabled, seconds (default 5 days).
    #[arg(long, env = "INLET_WEBHOOK_DISABLE_AFTER_SECS", default_value_t = 5 * 86_400)]
    pub webhook_disable_after_secs: u64,
    /// How often the delivery worker looks for due deliveries when no notification woke it, ms.
    #[arg(long, env = "INLET_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// How long events are kept for replay, days.
    #[arg(long, env = "INLET_EVENT_RETENTION_DAYS", default_value_t = 30)]
    pub event_retention_days: i64,
    /// Maximum connections in the database pool.
    #[arg(long, env = "INLET_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
}

impl ApiConfig {
    /// The public base URL, without a trailing slash.
    pub fn public_api_url(&self) -> String {
        match &self.public_api_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.api_listen),
        }
    }

    /// Whether cookies must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_api_url().starts_with("https://")
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> ApiConfig {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            api: ApiConfig,
        }
        <Wrapper as clap::Parser>::parse_from(["inlet-api"]).api
    }
}
