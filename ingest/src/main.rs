//! `inlet-ingest`: wiring only.

use clap::Parser;
use inlet_contract::settings::{CommonSettings, init_tracing};
use inlet_ingest::IngestConfig;
use inlet_ingest::server::Ingest;
use tokio::sync::watch;

/// Inlet data plane: RTMP/RTMPS ingest, HLS packager and origin.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonSettings,
    #[command(flatten)]
    ingest: IngestConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    inlet_ingest::server::tls::install_crypto_provider();
    init_tracing(cli.common.log_format);
    let Some(secret) = cli.common.node_secret.clone() else {
        anyhow::bail!(
            "INLET_NODE_SECRET is not set: the ingest needs it to ask the API (INLET_API_URL) about publishes."
        );
    };
    let http = inlet_contract::process::bind(cli.ingest.hls_listen, "INLET_HLS_LISTEN").await?;
    let hls_dir = cli.ingest.hls_dir();
    let sinks = inlet_ingest::server::sinks_for(&cli.ingest);
    let ingest = Ingest::bind(cli.ingest, &cli.common.node_id, &secret, sinks, true).await?;
    let metrics = ingest.shared.metrics.clone();
    let (tx, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http = tokio::spawn(inlet_ingest::server::http::serve(
        http,
        metrics,
        hls_dir,
        stopped(rx.clone()),
    ));
    let rtmp = tokio::spawn(ingest.run(rx));
    inlet_contract::process::shutdown_signal().await;
    let _ = tx.send(true);
    rtmp.await??;
    http.await??;
    Ok(())
}
