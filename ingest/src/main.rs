//! `inlet-ingest`: wiring only.

use clap::Parser;
use inlet_contract::settings::{CommonSettings, init_tracing};
use inlet_ingest::IngestConfig;

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
    init_tracing(cli.common.log_format);
    let listener = tokio::net::TcpListener::bind(cli.ingest.hls_listen).await?;
    inlet_ingest::server::http::serve(listener, inlet_contract::process::shutdown_signal()).await
}
