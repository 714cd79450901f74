//! `inlet`: the all-in-one for a laptop or a test. Wiring only: a private PostgreSQL under
//! `INLET_DATA_DIR` when `DATABASE_URL` is unset, migrations, first-start set-up, then the API and the
//! ingest in one process until SIGTERM/Ctrl-C, after which the private cluster is stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use inlet_api::ApiConfig;
use inlet_contract::process::shutdown_signal;
use inlet_contract::settings::{CommonSettings, init_tracing};
use inlet_ingest::IngestConfig;
use inlet_ingest::server::Ingest;
use inlet_pgcluster::{Cluster, ClusterOptions};
use tokio::sync::watch;

/// Inlet all-in-one: control plane + ingest, with a private PostgreSQL when DATABASE_URL is unset.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonSettings,
    #[command(flatten)]
    api: ApiConfig,
    #[command(flatten)]
    ingest: IngestConfig,
    /// Private cluster, dev certificate and HLS directory of the all-in-one.
    #[arg(long, env = "INLET_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Crypto backends chosen explicitly (rustls links both ring and aws-lc here).
    inlet_api::domain::publish_token::install_crypto_provider();
    inlet_ingest::server::tls::install_crypto_provider();
    // The dashboard's preview plays from this process's own HLS origin.
    cli.api.dashboard_hls_url = cli.ingest.hls_public_url.clone();
    init_tracing(cli.common.log_format);
    if let Err(e) = local_secrets(&mut cli) {
        eprintln!("inlet: {e:#}");
        return ExitCode::FAILURE;
    }
    // The private cluster is started before the runtime and stopped after it, so it outlives every task.
    let cluster = if cli.api.database_url.is_none() {
        match start_private_cluster(&cli.data_dir) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(&mut cli, cluster.as_ref())));
    if let Some(cluster) = &cluster {
        if let Err(e) = cluster.stop() {
            eprintln!("stopping the private PostgreSQL failed: {e}");
            return ExitCode::FAILURE;
        }
        tracing::info!("private PostgreSQL stopped");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inlet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fills the secrets a laptop install should not need to configure: the sealing key persists in
/// `<data dir>/secret.key` (mode 0600); the node secret is per run, since the ingest is in-process.
fn local_secrets(cli: &mut Cli) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if cli.api.secret_key.is_none() {
        let path = cli.data_dir.join("secret.key");
        let key = match std::fs::read_to_string(&path) {
            Ok(k) if !k.trim().is_empty() => k.trim().to_string(),
            // Never replace an existing key silently: the API's signing keys are sealed with it.
            Ok(_) => anyhow::bail!(
                "{} is empty; restore it or delete it to start afresh",
                path.display()
            ),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!("cannot read {}: {e}", path.display())
            }
            Err(_) => {
                std::fs::create_dir_all(&cli.data_dir)?;
                let k = inlet_api::domain::credentials::random_text(48);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(k.as_bytes())?;
                k
            }
        };
        cli.api.secret_key = Some(key);
    }
    let node_secret = cli
        .common
        .node_secret
        .clone()
        .unwrap_or_else(|| inlet_api::domain::credentials::random_text(43));
    cli.api.node_secret = Some(node_secret.clone());
    cli.common.node_secret = Some(node_secret);
    Ok(())
}

fn start_private_cluster(data_dir: &std::path::Path) -> Result<Cluster, inlet_pgcluster::Error> {
    Cluster::start(ClusterOptions {
        data_dir: data_dir.join("postgres"),
        port: None,
        fsync: true,
        superuser: "inlet".into(),
    })
}

async fn run(cli: &mut Cli, cluster: Option<&Cluster>) -> anyhow::Result<()> {
    let url = match (&cli.api.database_url, cluster) {
        (Some(url), _) => url.clone(),
        (None, Some(cluster)) => {
            inlet_api::ensure_database(&cluster.url("postgres"), "inlet").await?;
            cluster.url("inlet")
        }
        (None, None) => anyhow::bail!("no database: set DATABASE_URL"),
    };
    let db = inlet_api::connect(
        &url,
        cli.api.db_max_connections,
        std::time::Duration::from_secs(30),
    )
    .await?;
    let first = inlet_api::bootstrap::first_start(&db, &cli.api, true).await?;
    if cli.ingest.hls_dir.is_none() {
        cli.ingest.hls_dir = Some(cli.data_dir.join("hls"));
    }
    cli.ingest.tls_dev_dir = cli.data_dir.join("tls");

    let api_listener =
        inlet_contract::process::bind(cli.api.api_listen, "INLET_API_LISTEN").await?;
    // The in-process ingest asks this process's own API.
    cli.ingest.api_url = format!("http://{}", api_listener.local_addr()?);
    let ingest_listener =
        inlet_contract::process::bind(cli.ingest.hls_listen, "INLET_HLS_LISTEN").await?;
    let node_secret = cli.api.node_secret.clone().unwrap_or_default();
    let ingest = Ingest::bind(
        cli.ingest.clone(),
        &cli.common.node_id,
        &node_secret,
        inlet_ingest::server::sinks_for(&cli.ingest),
        true,
    )
    .await?;
    let ingest_metrics = ingest.shared.metrics.clone();
    print_banner(cli, &first);

    // The ingest stops first (publishers are told, `ended` events delivered), then the API.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (api_stop_tx, api_stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api = tokio::spawn(inlet_api::serve(
        api_listener,
        db.clone(),
        cli.api.clone(),
        stopped(api_stop_rx),
    ));
    let ingest_http = tokio::spawn(inlet_ingest::server::http::serve(
        ingest_listener,
        ingest_metrics,
        cli.ingest.hls_dir(),
        stopped(stop_rx.clone()),
    ));
    let rtmp = tokio::spawn(ingest.run(stop_rx));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    rtmp.await??;
    let _ = api_stop_tx.send(true);
    api.await??;
    ingest_http.await??;
    db.close().await;
    Ok(())
}

fn print_banner(cli: &Cli, first: &inlet_api::bootstrap::FirstStart) {
    let dashboard = cli.api.public_api_url();
    let rtmp = &cli.api.public_rtmp_url;
    let mut out = String::new();
    out.push_str("\n  Inlet is running.\n");
    out.push_str(&format!("  Dashboard:   {dashboard}/\n"));
    out.push_str(&format!(
        "  API:         {dashboard}/v1  (reference: {dashboard}/docs, OpenAPI: {dashboard}/v1/openapi.json)\n"
    ));
    out.push_str(&format!(
        "  RTMP:        {rtmp}   RTMPS: {}\n",
        cli.api.public_rtmps_url
    ));
    out.push_str(&format!("  HLS:         {}\n", cli.ingest.hls_public_url));
    if let (Some(email), Some(password)) = (&first.admin_email, &first.admin_password) {
        out.push_str(
            "\n  First start: these credentials are shown once and stored only as hashes.\n",
        );
        out.push_str(&format!("  Admin login: {email} / {password}\n"));
    }
    if let Some(token) = &first.operator_token {
        out.push_str(&format!(
            "  Operator token (Authorization: Bearer …, for /admin/v1): {token}\n"
        ));
    }
    if let Some(key) = &first.demo_stream_key {
        out.push_str("\n  Stream \"demo\" is ready. In OBS: Settings → Stream → Service: Custom\n");
        out.push_str(&format!("    Server:     {rtmp}\n    Stream Key: {key}\n"));
        out.push_str("  Or with ffmpeg:\n");
        out.push_str(&format!(
            "    ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \\\n      -c:v libx264 -preset veryfast -g 60 -c:a aac -f flv {rtmp}/{key}\n"
        ));
    }
    println!("{out}");
}
