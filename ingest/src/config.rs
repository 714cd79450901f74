//! Configuration of the data plane: one struct, every field an environment variable and a CLI flag
//! with its default documented here and in docs/configuration.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::server::proxy::ProxySources;

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
    /// all-in-one, ./data/hls for inlet-ingest).
    #[arg(long, env = "INLET_HLS_DIR")]
    pub hls_dir: Option<PathBuf>,
    /// Where the ingest reaches the API's internal endpoints.
    #[arg(long, env = "INLET_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// Time allowed for the RTMP handshake (C0/C1/C2), seconds.
    #[arg(long, env = "INLET_RTMP_HANDSHAKE_TIMEOUT_SECS", default_value_t = 5)]
    pub rtmp_handshake_timeout_secs: u64,
    /// Time allowed from TCP accept to `publish`, seconds.
    #[arg(long, env = "INLET_RTMP_PUBLISH_TIMEOUT_SECS", default_value_t = 10)]
    pub rtmp_publish_timeout_secs: u64,
    /// A connection that sends nothing for this long is closed, seconds (nginx-rtmp `timeout`).
    #[arg(long, env = "INLET_RTMP_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub rtmp_idle_timeout_secs: u64,
    /// Largest chunk size a publisher may set, bytes.
    #[arg(long, env = "INLET_RTMP_MAX_CHUNK_SIZE", default_value_t = 1 << 20)]
    pub rtmp_max_chunk_size: u32,
    /// Largest RTMP message accepted, bytes (nginx-rtmp `max_message`).
    #[arg(long, env = "INLET_RTMP_MAX_MESSAGE", default_value_t = 8 << 20)]
    pub rtmp_max_message: u32,
    /// Most chunk streams one connection may open (nginx-rtmp `max_streams`).
    #[arg(long, env = "INLET_RTMP_MAX_CHUNK_STREAMS", default_value_t = 64)]
    pub rtmp_max_chunk_streams: usize,
    /// Most RTMP/RTMPS connections in total.
    #[arg(long, env = "INLET_RTMP_MAX_CONNECTIONS", default_value_t = 2000)]
    pub rtmp_max_connections: usize,
    /// Most RTMP/RTMPS connections from one address.
    #[arg(long, env = "INLET_RTMP_MAX_CONNECTIONS_PER_IP", default_value_t = 50)]
    pub rtmp_max_connections_per_ip: usize,
    /// Load balancers whose connections start with a PROXY protocol header (v1 or v2) naming the
    /// real client: comma-separated CIDRs or addresses; empty (the default) = PROXY protocol off.
    /// Connections from these must send one; a header from any other address is refused.
    #[arg(long, env = "INLET_PROXY_PROTOCOL_FROM", default_value = "")]
    pub proxy_protocol_from: ProxySources,
    /// Threads that serve RTMP/RTMPS connections, each with its own event loop, a connection living
    /// on one of them (nginx: `worker_processes`); `0` = one per two CPUs (at least one).
    #[arg(long, env = "INLET_RTMP_WORKERS", default_value_t = 0)]
    pub rtmp_workers: usize,
    /// Timeout of the authorize call to the API, milliseconds (then: control_plane_unavailable).
    #[arg(long, env = "INLET_AUTHORIZE_TIMEOUT_MS", default_value_t = 2000)]
    pub authorize_timeout_ms: u64,
    /// Package sessions as HLS (`true`); `false` discards media (RTMP-only benchmarks).
    #[arg(long, env = "INLET_HLS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub hls_enabled: bool,
    /// HLS target segment duration, ms (`hls_fragment`); segments are cut at the first keyframe after it.
    #[arg(long, env = "INLET_HLS_FRAGMENT_MS", default_value_t = 2000)]
    pub hls_fragment_ms: u64,
    /// Segments listed in the live playlist (`hls_window`).
    #[arg(long, env = "INLET_HLS_WINDOW", default_value_t = 6)]
    pub hls_window: usize,
    /// A finished stream's HLS directory is removed this long after the publisher left, seconds
    /// (`hls_dispose`).
    #[arg(long, env = "INLET_HLS_DISPOSE_SECS", default_value_t = 120)]
    pub hls_dispose_secs: u64,
    /// How often a live session's measured figures (bitrate, fps, keyframe interval, resolution)
    /// are reported to the API, seconds.
    #[arg(long, env = "INLET_HEALTH_INTERVAL_SECS", default_value_t = 5)]
    pub health_interval_secs: u64,
    /// Directory for the generated development certificate when INLET_TLS_CERT is unset.
    #[arg(long, env = "INLET_TLS_DEV_DIR", default_value = "./data/tls")]
    pub tls_dev_dir: PathBuf,
}

impl IngestConfig {
    /// Where HLS output goes.
    pub fn hls_dir(&self) -> PathBuf {
        self.hls_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data/hls"))
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> IngestConfig {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            ingest: IngestConfig,
        }
        <Wrapper as clap::Parser>::parse_from(["inlet-ingest"]).ingest
    }
}
