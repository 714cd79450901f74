//! Configuration of the data plane: one struct, every field an environment variable and a CLI flag
//! with its default documented here and in docs/configuration.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Clone, Debug, Args)]
pub struct IngestConfig {
    /// RTMP listen address.
    #[arg(long, env = "INLET_RTMP_LISTEN", default_value = "127.0.0.1:1935")]
    pub rtmp_listen: SocketAddr,
    /// RTMPS (RTMP over TLS) listen address.
    #[arg(long, env = "INLET_RTMPS_LISTEN", default_value = "127.0.0.1:1936")]
    pub rtmps_listen: SocketAddr,
    /// PEM certificate chain for RTMPS; a self-signed one is generated when unset.
    #[arg(long, env = "INLET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for RTMPS.
    #[arg(long, env = "INLET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HLS origin (and /healthz, /readyz, /metrics) listen address.
    #[arg(long, env = "INLET_HLS_LISTEN", default_value = "127.0.0.1:8081")]
    pub hls_listen: SocketAddr,
    /// Public base URL of the HLS origin, used to build playback URLs.
    #[arg(
        long,
        env = "INLET_HLS_PUBLIC_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub hls_public_url: String,
    /// Directory HLS playlists and segments are written to (default: <INLET_DATA_DIR>/hls in the
    /// all-in-one, ./data/hls otherwise).
    #[arg(long, env = "INLET_HLS_DIR")]
    pub hls_dir: Option<PathBuf>,
    /// Where the ingest reaches the API's internal endpoints.
    #[arg(long, env = "INLET_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
}
