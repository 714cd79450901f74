//! `inlet-api`: wiring only.

use clap::Parser;
use inlet_api::ApiConfig;
use inlet_contract::settings::{CommonSettings, init_tracing};

/// Inlet control plane: REST API, dashboard, webhooks, metrics.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonSettings,
    #[command(flatten)]
    api: ApiConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    inlet_api::domain::publish_token::install_crypto_provider();
    init_tracing(cli.common.log_format);
    if cli.api.secret_key.is_none() {
        anyhow::bail!(
            "INLET_SECRET_KEY is not set: inlet-api needs a long random string to seal its signing keys (e.g. `openssl rand -hex 32`)."
        );
    }
    cli.api.node_secret = cli.common.node_secret.clone();
    if cli.api.node_secret.is_none() {
        tracing::warn!("INLET_NODE_SECRET is not set: ingest nodes cannot call the internal API");
    }
    let Some(url) = cli.api.database_url.clone() else {
        anyhow::bail!(
            "DATABASE_URL is not set: inlet-api needs a PostgreSQL server (or run the all-in-one `inlet`)."
        );
    };
    let db = inlet_api::connect(
        &url,
        cli.api.db_max_connections,
        std::time::Duration::from_secs(60),
    )
    .await?;
    let first = inlet_api::bootstrap::first_start(&db, &cli.api, false).await?;
    if let Some(token) = first.operator_token {
        println!("Operator token (shown once, stored hashed): {token}");
    }
    let listener = inlet_contract::process::bind(cli.api.api_listen, "INLET_API_LISTEN").await?;
    inlet_api::serve(
        listener,
        db,
        cli.api,
        inlet_contract::process::shutdown_signal(),
    )
    .await
}
