//! `ingest-bench`: CPU cost of RTMP ingest and publish accept latency, Inlet against nginx-rtmp, in
//! one run.
//!
//! It starts both servers as separate processes on loopback: the all-in-one `inlet` (API, ingest
//! with its discarding sink, private PostgreSQL; publishes are authorized by the real API against
//! the database) and nginx with Debian's `libnginx-mod-rtmp` (live application, HLS and recording
//! off, no authorization). Against each it then runs:
//!
//! - an accept-latency probe: publishers connect one after another at a low rate, each closing
//!   right after `NetStream.Publish.Start`, while no other load runs;
//! - for each load level N: N publishers connect at a moderate rate, each then streaming a
//!   pre-encoded ~3 Mb/s FLV paced in real time; after a warm-up, the server's CPU (its process
//!   tree, from `/proc`) and the bytes sent are measured over a steady-state window, giving
//!   CPU-seconds per Gbit ingested.
//!
//! With `--hls` both servers package HLS instead (Inlet with INLET_HLS_ENABLED=true, nginx with
//! `hls on`, 2 s fragments, 12 s playlists, both writing under the run's directory), and each level
//! also reports the servers' resident memory before the load and at steady state, and for a sample
//! of publishers the time from `NetStream.Publish.Start` to the first segment listed in their
//! playlist on disk.
//!
//! Levels alternate between the servers (Inlet N1, nginx N1, Inlet N2, ...) so that drifting noise
//! from neighbours hits both alike. The load generator runs in this process; its CPU is measured
//! and reported separately. The Markdown report goes to stdout, progress to stderr.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use inlet_bench::cpu;
use inlet_bench::flv::{self, Source};
use inlet_bench::prom::{self, Histogram};
use inlet_bench::publisher::{self, ClientStyle, Load, LoadSpec, Phases, Target};
use inlet_bench::servers::{self, InletServer, NginxServer, ServerOptions};
use inlet_bench::stats::{self, Summary, ms};
use tokio::time::Instant;

use inlet_bench::api::{ADMIN_TOKEN, create_streams, expect_json};

/// CPU per Gbit ingested and publish accept latency: Inlet against nginx-rtmp.
#[derive(Parser, Debug)]
#[command(name = "ingest-bench")]
struct Args {
    /// Concurrent publishers per load level.
    #[arg(
        long,
        env = "INLET_BENCH_LEVELS",
        value_delimiter = ',',
        default_value = "100,300"
    )]
    levels: Vec<usize>,
    /// Servers to measure, in this order within each level.
    #[arg(long, value_delimiter = ',', default_value = "inlet,nginx")]
    servers: Vec<ServerKind>,
    /// Times the whole sequence (probes and levels) is repeated.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Publisher connects started per second while a load level ramps up.
    #[arg(long, default_value_t = 50.0)]
    connect_rate: f64,
    /// Seconds of streaming after the last publisher was accepted, before the window.
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// Length of the measured steady-state window, seconds.
    #[arg(long, default_value_t = 20)]
    window_secs: u64,
    /// Accept-latency probe: publishes (each closed at once) per server and round; 0 skips it.
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// Accept-latency probe: connects per second.
    #[arg(long, default_value_t = 20.0)]
    probe_rate: f64,
    /// A pre-encoded FLV to send (default: one encoded with ffmpeg at the start).
    #[arg(long)]
    source: Option<PathBuf>,
    /// Length of the encoded source, seconds (it loops).
    #[arg(long, default_value_t = 10)]
    source_secs: u32,
    /// Video bitrate of the encoded source, kb/s (plus 96 kb/s of AAC).
    #[arg(long, default_value_t = 2900)]
    video_kbps: u32,
    /// RTMP chunk size, both directions (the generator's Set Chunk Size and nginx's `chunk_size`).
    #[arg(long, default_value_t = 4096)]
    chunk_size: u32,
    /// How often each publisher writes what has come due, ms (33: about one video frame per write).
    #[arg(long, default_value_t = 33)]
    tick_ms: u64,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    gen_threads: usize,
    /// nginx `worker_processes` (Inlet's runtime has one worker thread per CPU: 2 here).
    #[arg(long, default_value_t = 2)]
    nginx_workers: usize,
    /// The all-in-one binary (default: target/release/inlet of this workspace).
    #[arg(long)]
    inlet_bin: Option<PathBuf>,
    /// Give Inlet a PostgreSQL started by the bench with fsync and synchronous commit off (through
    /// DATABASE_URL) instead of its private cluster with fsync on: shows what the disk flush of the
    /// authorization's commit costs.
    #[arg(long)]
    pg_fsync_off: bool,
    /// More environment for the Inlet server, `NAME=VALUE` (repeatable), e.g.
    /// `INLET_HLS_ENABLED=true` to measure with HLS packaging.
    #[arg(long = "inlet-env", value_parser = servers::parse_env)]
    inlet_env: Vec<(String, String)>,
    /// `RUST_LOG` of the Inlet server.
    #[arg(long, default_value = "warn")]
    inlet_log: String,
    /// How the load levels' publishers write their handshake and commands.
    #[arg(long, value_enum, default_value = "nodelay")]
    client_style: ClientStyle,
    /// Client styles of the accept-latency probe, each a probe of its own.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "nodelay,ffmpeg"
    )]
    probe_styles: Vec<ClientStyle>,
    /// Before each level and probe, wait (up to --quiet-max-wait seconds) until the machine was
    /// less than this busy, in percent, for a whole second.
    #[arg(long)]
    quiet_below: Option<f64>,
    /// Longest wait for a quiet machine, seconds.
    #[arg(long, default_value_t = 120)]
    quiet_max_wait: u64,
    /// Keep the temporary directory (server logs, nginx.conf).
    #[arg(long)]
    keep_dir: bool,
    /// Both servers package HLS: Inlet with INLET_HLS_ENABLED=true into the run's directory, nginx
    /// with `hls on` (2 s fragments, 12 s playlist). Also reports memory per stream and the time
    /// from publish to the first segment listed.
    #[arg(long)]
    hls: bool,
    /// With --hls: publishers per level (the first ones to connect) whose time from
    /// `NetStream.Publish.Start` to the first segment listed in their playlist is measured.
    #[arg(long, default_value_t = 10)]
    first_segment_sample: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ServerKind {
    Inlet,
    Nginx,
}

impl ServerKind {
    fn label(self) -> &'static str {
        match self {
            ServerKind::Inlet => "Inlet",
            ServerKind::Nginx => "nginx-rtmp",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.levels.contains(&0) || args.levels.is_empty() || args.rounds == 0 {
        bail!("--levels must be positive and --rounds at least 1");
    }
    if !(args.connect_rate > 0.0 && args.probe_rate > 0.0) {
        bail!("--connect-rate and --probe-rate must be positive");
    }
    if args.window_secs == 0 || args.tick_ms == 0 || args.gen_threads == 0 {
        bail!("--window-secs, --tick-ms and --gen-threads must be positive");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "inlet-ingest-bench-{}-{nanos:09}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.gen_threads)
        .thread_name("rtmp-load")
        .enable_all()
        .build()?;
    let outcome = rt.block_on(run(&args, &dir));
    if args.keep_dir {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    print!("{}", outcome?);
    Ok(())
}

/// One measured load level.
struct LevelResult {
    round: usize,
    server: ServerKind,
    publishers: usize,
    accepted: usize,
    live_at_end: usize,
    dropped: usize,
    failures: Vec<String>,
    accept: Vec<Phases>,
    window: Duration,
    bytes: u64,
    server_cpu: f64,
    /// Context switches of the server's threads over the window (each is a sleep or a preemption).
    server_switches: u64,
    generator_cpu: f64,
    postgres_cpu: f64,
    machine_busy: f64,
    machine_total: f64,
    /// Bytes the Inlet ingest counted over the window (cross-check), when it is Inlet.
    server_bytes: Option<f64>,
    /// Inlet's own accept and authorize histograms over the ramp.
    server_accept: Option<Histogram>,
    server_authorize: Option<Histogram>,
    quiet: Option<f64>,
    /// Resident memory of the server (Inlet's process; nginx's master and workers) before the
    /// level's load and at the end of the window, KiB.
    rss_before: u64,
    rss_steady: u64,
    /// With --hls: the sample's times from `NetStream.Publish.Start` to the first segment listed.
    first_segment: FirstSegments,
}

/// Time to the first segment of a sample of publishers.
#[derive(Default)]
struct FirstSegments {
    sampled: usize,
    /// Publish start → the playlist on disk lists a segment.
    listed: Vec<Duration>,
    /// Inlet: publish start → the API shows `playback.hls_url`.
    api_ready: Vec<Duration>,
    failures: Vec<String>,
}

/// One accept-latency probe.
struct ProbeResult {
    round: usize,
    server: ServerKind,
    style: ClientStyle,
    attempts: usize,
    accept: Vec<Phases>,
    failures: Vec<String>,
    server_accept: Option<Histogram>,
    server_authorize: Option<Histogram>,
    quiet: Option<f64>,
}

struct Servers {
    inlet: Option<InletServer>,
    /// The bench's own PostgreSQL for Inlet (`--pg-fsync-off`).
    cluster: Option<inlet_pgcluster::Cluster>,
    nginx: Option<NginxServer>,
    keys: Vec<String>,
    /// Fresh streams (id, key) for the first-segment samples, taken `--first-segment-sample` at a
    /// time so that no sample finds an older session's playlist.
    sample_streams: Vec<(String, String)>,
    /// The tenant's API token (to read streams).
    token: String,
    inlet_hls: PathBuf,
    nginx_hls: PathBuf,
    http: reqwest::Client,
}

async fn run(args: &Args, dir: &Path) -> anyhow::Result<String> {
    let source_path = match &args.source {
        Some(p) => p.clone(),
        None => {
            let p = dir.join("source.flv");
            eprintln!(
                "encoding a {} s 720p30 source at {} kb/s video + 96 kb/s audio with ffmpeg",
                args.source_secs, args.video_kbps
            );
            flv::encode_test_source(&p, args.source_secs, args.video_kbps)?;
            p
        }
    };
    let source = Arc::new(Source::load(&source_path, args.chunk_size as usize)?);
    eprintln!(
        "source: {:.0} kb/s on the wire, {} ms loop",
        source.wire_bps() / 1e3,
        source.period_ms
    );

    let mut servers = Servers {
        inlet: None,
        cluster: None,
        nginx: None,
        keys: Vec::new(),
        sample_streams: Vec::new(),
        token: String::new(),
        inlet_hls: dir.join("inlet-hls"),
        nginx_hls: dir.join("nginx-hls"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let outcome = measure_all(args, dir, &source, &mut servers).await;
    if let Some(s) = servers.inlet.take()
        && let Err(e) = s.stop().await
    {
        eprintln!("warning: stopping inlet: {e:#}");
    }
    if let Some(s) = servers.nginx.take()
        && let Err(e) = s.stop().await
    {
        eprintln!("warning: stopping nginx: {e:#}");
    }
    if let Some(c) = servers.cluster.take()
        && let Err(e) = c.stop()
    {
        eprintln!("warning: stopping PostgreSQL: {e}");
    }
    let (levels, probes, inlet_pg) = outcome?;
    Ok(render(args, &source, &levels, &probes, &inlet_pg))
}

async fn measure_all(
    args: &Args,
    dir: &Path,
    source: &Arc<Source>,
    servers: &mut Servers,
) -> anyhow::Result<(Vec<LevelResult>, Vec<ProbeResult>, String)> {
    let max_n = args.levels.iter().copied().max().unwrap_or(0);
    let mut pg_version = String::new();
    if args.servers.contains(&ServerKind::Inlet) {
        let bin = args
            .inlet_bin
            .clone()
            .unwrap_or_else(|| servers::release_binary("inlet"));
        let mut env = Vec::new();
        if args.hls {
            env.push(("INLET_HLS_ENABLED".to_string(), "true".to_string()));
            env.push((
                "INLET_HLS_DIR".to_string(),
                servers.inlet_hls.display().to_string(),
            ));
        }
        env.extend(args.inlet_env.iter().cloned());
        if args.pg_fsync_off {
            let opts = inlet_pgcluster::ClusterOptions {
                data_dir: dir.join("pg"),
                port: None,
                fsync: false,
                superuser: "inlet".into(),
            };
            let cluster = inlet_pgcluster::Cluster::start(opts)
                .context("could not start the bench's PostgreSQL")?;
            let _ = cluster.stop_when_process_exits(false);
            inlet_api::ensure_database(&cluster.url("postgres"), "inlet").await?;
            env.push(("DATABASE_URL".to_string(), cluster.url("inlet")));
            servers.cluster = Some(cluster);
        }
        eprintln!(
            "starting {} (PostgreSQL with fsync {})",
            bin.display(),
            if args.pg_fsync_off { "off" } else { "on" }
        );
        let mut inlet = InletServer::start(&ServerOptions {
            bin: &bin,
            dir: &dir.join("inlet"),
            admin_token: ADMIN_TOKEN,
            log_filter: &args.inlet_log,
            env: &env,
        })
        .await?;
        if let Some(c) = &servers.cluster {
            inlet.pg_dir = c.data_dir().to_path_buf();
        }
        eprintln!(
            "inlet pid {} (API {}, RTMP {}); creating {max_n} streams",
            inlet.pid(),
            inlet.api,
            inlet.rtmp
        );
        let samples = if args.hls {
            args.first_segment_sample * args.rounds * args.levels.len()
        } else {
            0
        };
        let (token, mut streams) =
            create_streams(&servers.http, &inlet.api, max_n.max(args.probes) + samples).await?;
        servers.sample_streams = streams.split_off(streams.len() - samples);
        servers.keys = streams.into_iter().map(|(_, key)| key).collect();
        servers.token = token;
        // Every accepted publish counts against the tenant's live-stream quota (10 by default),
        // so the levels need a higher one.
        raise_live_quota(servers.cluster.as_ref(), &inlet.pg_dir).await?;
        pg_version = std::fs::read_to_string(inlet.pg_dir.join("PG_VERSION"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        servers.inlet = Some(inlet);
    }
    if args.servers.contains(&ServerKind::Nginx) {
        let hls = args.hls.then_some(servers.nginx_hls.as_path());
        let nginx = NginxServer::start(dir, args.nginx_workers, args.chunk_size, hls).await?;
        eprintln!("nginx master pid {} (RTMP {})", nginx.pid(), nginx.rtmp);
        servers.nginx = Some(nginx);
    }

    let mut levels = Vec::new();
    let mut probes = Vec::new();
    for round in 1..=args.rounds {
        if args.probes > 0 {
            for &style in &args.probe_styles {
                for &kind in &args.servers {
                    probes.push(probe(args, round, kind, style, servers, source).await?);
                }
            }
        }
        for (li, &n) in args.levels.iter().enumerate() {
            let k = args.first_segment_sample;
            let at = ((round - 1) * args.levels.len() + li) * k;
            let sample = servers
                .sample_streams
                .get(at..at + k)
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            for &kind in &args.servers {
                levels.push(level(args, round, kind, n, servers, source, &sample).await?);
            }
        }
    }
    Ok((levels, probes, pg_version))
}

/// Lifts the bench tenant's `max_concurrent_live` in Inlet's database: the bench's cluster with
/// `--pg-fsync-off`, else the all-in-one's private one (its port from `postmaster.pid`, its
/// superuser password from the file next to its data directory).
async fn raise_live_quota(
    cluster: Option<&inlet_pgcluster::Cluster>,
    pg_dir: &Path,
) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = match cluster {
        Some(c) => sqlx::PgConnection::connect(&c.url("inlet")).await?,
        None => {
            let pid = std::fs::read_to_string(pg_dir.join("postmaster.pid"))
                .context("could not read the private cluster's postmaster.pid")?;
            let port: u16 = pid
                .lines()
                .nth(3)
                .and_then(|l| l.trim().parse().ok())
                .context("no port in postmaster.pid")?;
            let mut pw_file = pg_dir.as_os_str().to_owned();
            pw_file.push(".password");
            let password = std::fs::read_to_string(&pw_file)
                .context("could not read the private cluster's password")?;
            let opts = sqlx::postgres::PgConnectOptions::new()
                .host("127.0.0.1")
                .port(port)
                .username("inlet")
                .password(password.trim())
                .database("inlet");
            sqlx::PgConnection::connect_with(&opts).await?
        }
    };
    sqlx::query("UPDATE tenants SET max_concurrent_live = 100000")
        .execute(&mut conn)
        .await
        .context("could not raise the tenants' live-stream quota")?;
    conn.close().await?;
    Ok(())
}

fn target(
    args: &Args,
    servers: &Servers,
    kind: ServerKind,
    style: ClientStyle,
) -> anyhow::Result<Target> {
    let addr = match kind {
        ServerKind::Inlet => servers.inlet.as_ref().context("inlet not started")?.rtmp,
        ServerKind::Nginx => servers.nginx.as_ref().context("nginx not started")?.rtmp,
    };
    Ok(Target {
        addr,
        app: "live".into(),
        chunk_size: args.chunk_size,
        style,
    })
}

/// Publish names: Inlet's stream keys (one stream per publisher), any names for nginx.
fn names(servers: &Servers, kind: ServerKind, n: usize) -> Vec<String> {
    match kind {
        ServerKind::Inlet => (0..n)
            .map(|i| servers.keys[i % servers.keys.len()].clone())
            .collect(),
        ServerKind::Nginx => (0..n).map(|i| format!("bench-{i}")).collect(),
    }
}

fn server_pid(servers: &Servers, kind: ServerKind) -> u32 {
    match kind {
        ServerKind::Inlet => servers.inlet.as_ref().map_or(0, InletServer::pid),
        ServerKind::Nginx => servers.nginx.as_ref().map_or(0, NginxServer::pid),
    }
}

fn pg_dir(servers: &Servers) -> PathBuf {
    servers
        .inlet
        .as_ref()
        .map_or_else(|| PathBuf::from("/nonexistent"), |s| s.pg_dir.clone())
}

/// The Inlet ingest's `/metrics`, when measuring Inlet.
async fn scrape(servers: &Servers, kind: ServerKind) -> Option<String> {
    let inlet = servers
        .inlet
        .as_ref()
        .filter(|_| kind == ServerKind::Inlet)?;
    let resp = servers.http.get(&inlet.metrics_url).send().await.ok()?;
    resp.text().await.ok()
}

fn histogram_delta(
    before: &Option<String>,
    after: &Option<String>,
    name: &str,
) -> Option<Histogram> {
    let after = prom::histogram(after.as_ref()?, name, &[])?;
    match before.as_ref().and_then(|b| prom::histogram(b, name, &[])) {
        Some(b) => after.since(&b),
        None => Some(after),
    }
}

/// The value of an unlabelled counter or gauge in a Prometheus exposition.
fn scalar(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

const ACCEPT_HISTOGRAM: &str = "inlet_ingest_publish_accept_seconds";
const AUTHORIZE_HISTOGRAM: &str = "inlet_ingest_authorize_seconds";
const INGESTED_BYTES: &str = "inlet_ingest_ingested_bytes_total";

async fn probe(
    args: &Args,
    round: usize,
    kind: ServerKind,
    style: ClientStyle,
    servers: &Servers,
    source: &Arc<Source>,
) -> anyhow::Result<ProbeResult> {
    let quiet = wait_quiet(args.quiet_below, args.quiet_max_wait).await;
    eprintln!(
        "round {round}: {}: accept probe ({}), {} publishes at {}/s",
        kind.label(),
        style.label(),
        args.probes,
        args.probe_rate
    );
    let before = scrape(servers, kind).await;
    let load = Load::start(
        LoadSpec {
            target: target(args, servers, kind, style)?,
            names: names(servers, kind, args.probes),
            connect_rate: args.probe_rate,
            stream: false,
            tick: Duration::from_millis(args.tick_ms),
        },
        source.clone(),
    );
    let state = load.join().await;
    // Let the server record the closes before reading its metrics.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape(servers, kind).await;
    Ok(ProbeResult {
        round,
        server: kind,
        style,
        attempts: args.probes,
        accept: state.accepted(),
        failures: state.failures(),
        server_accept: histogram_delta(&before, &after, ACCEPT_HISTOGRAM),
        server_authorize: histogram_delta(&before, &after, AUTHORIZE_HISTOGRAM),
        quiet,
    })
}

async fn level(
    args: &Args,
    round: usize,
    kind: ServerKind,
    n: usize,
    servers: &Servers,
    source: &Arc<Source>,
    sample: &[(String, String)],
) -> anyhow::Result<LevelResult> {
    let quiet = wait_quiet(args.quiet_below, args.quiet_max_wait).await;
    eprintln!(
        "round {round}: {}: {n} publishers, connecting at {}/s",
        kind.label(),
        args.connect_rate
    );
    let before = scrape(servers, kind).await;
    let pid = server_pid(servers, kind);
    let rss_before = rss(kind, pid);
    let mut names = names(servers, kind, n);
    let mut watched = Vec::new();
    if args.hls {
        // The first publishers are sampled, on names no earlier level used.
        for (i, name) in names.iter_mut().enumerate().take(args.first_segment_sample) {
            match kind {
                ServerKind::Inlet => {
                    let Some((id, key)) = sample.get(i) else {
                        break;
                    };
                    name.clone_from(key);
                    watched.push(Watched::Inlet {
                        name: key.clone(),
                        api: servers
                            .inlet
                            .as_ref()
                            .map_or_else(String::new, |s| s.api.clone()),
                        token: servers.token.clone(),
                        stream_id: id.clone(),
                        hls_dir: servers.inlet_hls.clone(),
                    });
                }
                ServerKind::Nginx => {
                    *name = format!("r{round}-n{n}-{i}");
                    watched.push(Watched::Nginx {
                        name: name.clone(),
                        playlist: servers.nginx_hls.join(format!("{name}.m3u8")),
                    });
                }
            }
        }
    }
    let load = Load::start(
        LoadSpec {
            target: target(args, servers, kind, args.client_style)?,
            names,
            connect_rate: args.connect_rate,
            stream: true,
            tick: Duration::from_millis(args.tick_ms),
        },
        source.clone(),
    );
    let watch = tokio::spawn(first_segments(
        servers.http.clone(),
        watched,
        load.state.clone(),
        Instant::now() + FIRST_SEGMENT_LIMIT,
    ));
    let ramp = Duration::from_secs_f64(n as f64 / args.connect_rate) + Duration::from_secs(30);
    let live = load.wait_settled(ramp).await;
    let ramped = scrape(servers, kind).await;
    eprintln!(
        "  {live} live after {:.1} s; warm-up {} s, window {} s",
        load.started.elapsed().as_secs_f64(),
        args.warmup_secs,
        args.window_secs
    );
    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;

    let pg = pg_dir(servers);
    let m0 = scrape(servers, kind).await;
    let s0 = servers::tree_cpu_secs(pid);
    let x0 = servers::tree_context_switches(pid);
    let c0 = cpu::snapshot(&pg);
    let b0 = load.state.bytes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.window_secs)).await;
    let b1 = load.state.bytes.load(Ordering::Relaxed);
    let s1 = servers::tree_cpu_secs(pid);
    let x1 = servers::tree_context_switches(pid);
    let c1 = cpu::snapshot(&pg);
    let window = t0.elapsed();
    let rss_steady = rss(kind, pid);
    let m1 = scrape(servers, kind).await;
    let live_at_end = load.state.live.load(Ordering::Relaxed);
    let dropped = load.state.dropped.load(Ordering::Relaxed);
    let first_segment = watch.await.unwrap_or_default();
    let state = load.stop().await;
    // Let the server notice the closes before the next level.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let usage = c1.since(&c0);
    let server_bytes = match (&m0, &m1) {
        (Some(a), Some(b)) => scalar(b, INGESTED_BYTES)
            .zip(scalar(a, INGESTED_BYTES))
            .map(|(b, a)| b - a),
        _ => None,
    };
    let bytes = b1 - b0;
    eprintln!(
        "  {:.0} Mb/s; server {:.2} CPU-s, generator {:.2} CPU-s over {:.1} s",
        bytes as f64 * 8.0 / window.as_secs_f64() / 1e6,
        s1 - s0,
        usage.process(),
        window.as_secs_f64()
    );
    Ok(LevelResult {
        round,
        server: kind,
        publishers: n,
        accepted: state.accepted().len(),
        live_at_end,
        dropped,
        failures: state.failures(),
        accept: state.accepted(),
        window,
        bytes,
        server_cpu: s1 - s0,
        server_switches: x1.saturating_sub(x0),
        generator_cpu: usage.process(),
        postgres_cpu: usage.postgres,
        machine_busy: usage.machine_busy,
        machine_total: usage.machine_total,
        server_bytes,
        server_accept: histogram_delta(&before, &ramped, ACCEPT_HISTOGRAM),
        server_authorize: histogram_delta(&before, &ramped, AUTHORIZE_HISTOGRAM),
        quiet,
        rss_before,
        rss_steady,
        first_segment,
    })
}

fn rss(kind: ServerKind, pid: u32) -> u64 {
    match kind {
        ServerKind::Inlet => servers::rss_kib(pid),
        ServerKind::Nginx => servers::rss_with_children_kib(pid),
    }
}

/// How long after the level starts a sampled publisher may take to get its first segment listed.
const FIRST_SEGMENT_LIMIT: Duration = Duration::from_secs(40);
/// How often the API and the playlists are polled.
const POLL: Duration = Duration::from_millis(50);

/// A sampled publisher whose playlist is watched.
enum Watched {
    /// Its playback id comes from the API (`playback.hls_url`, set once the first segment is
    /// ready); the playlist is `<hls_dir>/<playback id>/index.m3u8`.
    Inlet {
        name: String,
        api: String,
        token: String,
        stream_id: String,
        hls_dir: PathBuf,
    },
    /// `<hls_path>/<name>.m3u8`.
    Nginx { name: String, playlist: PathBuf },
}

/// Whether a media playlist lists at least one segment (a URI line).
fn lists_segment(playlist: &str) -> bool {
    playlist
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The playback id in an HLS URL `.../hls/<playback id>/index.m3u8`.
fn playback_id(hls_url: &str) -> Option<&str> {
    let mut parts = hls_url.rsplit('/');
    parts.next()?;
    parts.next().filter(|p| !p.is_empty())
}

async fn first_segments(
    http: reqwest::Client,
    watched: Vec<Watched>,
    state: Arc<publisher::LoadState>,
    deadline: Instant,
) -> FirstSegments {
    let mut out = FirstSegments {
        sampled: watched.len(),
        ..FirstSegments::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for w in watched {
        let (http, state) = (http.clone(), state.clone());
        tasks.spawn(async move { first_segment(&http, &w, &state, deadline).await });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok((listed, api))) => {
                out.listed.push(listed);
                out.api_ready.extend(api);
            }
            Ok(Err(e)) => out.failures.push(format!("{e:#}")),
            Err(e) => out.failures.push(e.to_string()),
        }
    }
    out
}

/// Publish start → first segment listed (and, for Inlet, → the API shows the playback URL).
async fn first_segment(
    http: &reqwest::Client,
    w: &Watched,
    state: &publisher::LoadState,
    deadline: Instant,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let name = match w {
        Watched::Inlet { name, .. } | Watched::Nginx { name, .. } => name,
    };
    let published = loop {
        if let Some(t) = state.published_at(name) {
            break t;
        }
        if Instant::now() >= deadline {
            bail!("not accepted in time");
        }
        tokio::time::sleep(POLL).await;
    };
    let (playlist, api_ready) = match w {
        Watched::Nginx { playlist, .. } => (playlist.clone(), None),
        Watched::Inlet {
            api,
            token,
            stream_id,
            hls_dir,
            ..
        } => loop {
            let v = expect_json(
                http.get(format!("{api}/v1/streams/{stream_id}"))
                    .bearer_auth(token)
                    .send()
                    .await,
                "read a stream",
            )
            .await?;
            if let Some(id) = v["playback"]["hls_url"].as_str().and_then(playback_id) {
                break (
                    hls_dir.join(id).join("index.m3u8"),
                    Some(published.elapsed()),
                );
            }
            if Instant::now() >= deadline {
                bail!("the API showed no playback URL in time");
            }
            tokio::time::sleep(POLL).await;
        },
    };
    loop {
        if let Ok(text) = tokio::fs::read_to_string(&playlist).await
            && lists_segment(&text)
        {
            return Ok((published.elapsed(), api_ready));
        }
        if Instant::now() >= deadline {
            bail!("{} lists no segment in time", playlist.display());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the machine was less than `limit` percent busy over one second (at most `max_wait`
/// seconds); returns the last second's busy share.
async fn wait_quiet(limit: Option<f64>, max_wait: u64) -> Option<f64> {
    Some(
        cpu::wait_quiet(limit?, Duration::from_secs(max_wait))
            .await
            .0,
    )
}

fn summary(accept: &[Phases], f: fn(&Phases) -> Duration) -> Option<Summary> {
    let mut v: Vec<Duration> = accept.iter().map(f).collect();
    stats::summarize(&mut v)
}

fn fmt_summary(s: &Option<Summary>, f: fn(&Summary) -> Duration) -> String {
    s.as_ref().map_or_else(|| "n/a".into(), |s| ms(f(s)))
}

fn fmt_quantile(h: &Option<Histogram>, q: f64) -> String {
    prom::quantile_ms(h.as_ref(), q)
}

impl LevelResult {
    fn gbit(&self) -> f64 {
        self.bytes as f64 * 8.0 / 1e9
    }

    fn cpu_per_gbit(&self) -> f64 {
        self.server_cpu / self.gbit().max(1e-12)
    }

    fn mbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.window.as_secs_f64() / 1e6
    }

    fn other(&self) -> f64 {
        (self.machine_busy - self.server_cpu - self.generator_cpu - self.postgres_cpu).max(0.0)
    }
}

/// The goal of CPU-seconds per Gbit ingested with HLS on.
const HLS_GOAL_CPU_PER_GBIT: f64 = 0.25;

fn render_hls(s: &mut String, levels: &[LevelResult]) {
    use std::fmt::Write;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let _ = writeln!(
        s,
        "\n### HLS: CPU against the goal, memory per stream, publish → first segment listed\n"
    );
    let _ = writeln!(
        s,
        "Memory: resident set (`VmRSS`) of Inlet's process / nginx's master and workers, before the \
         level's load and at the end of the window; per stream = the difference / publishers. First \
         segment: from `NetStream.Publish.Start` at the client to the playlist on disk listing a \
         segment, polled every {} ms, for the first publishers of the level (Inlet: after the API \
         shows `playback.hls_url`, timed in its own column).\n",
        POLL.as_millis()
    );
    let _ = writeln!(
        s,
        "| round | publishers | server | CPU-s/Gbit | vs goal {HLS_GOAL_CPU_PER_GBIT} | RSS before MiB | RSS steady MiB | per stream MiB | first segment p50 / max ms (n) | API playback URL p50 / max ms |"
    );
    let _ = writeln!(s, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for l in levels {
        let per = (l.rss_steady as f64 - l.rss_before as f64) / 1024.0 / l.publishers as f64;
        let fs = &l.first_segment;
        let p50max = |v: &[Duration]| {
            let mut v = v.to_vec();
            stats::summarize(&mut v).map_or_else(
                || "n/a".into(),
                |x| format!("{} / {}", ms(x.p50), ms(x.max)),
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} | {:.1} | {:.1} | {per:.2} | {} ({}/{}) | {} |",
            l.round,
            l.publishers,
            l.server.label(),
            l.cpu_per_gbit(),
            if l.cpu_per_gbit() <= HLS_GOAL_CPU_PER_GBIT {
                format!(
                    "met ({:.0} %)",
                    100.0 * l.cpu_per_gbit() / HLS_GOAL_CPU_PER_GBIT
                )
            } else {
                format!(
                    "missed ({:.0} %)",
                    100.0 * l.cpu_per_gbit() / HLS_GOAL_CPU_PER_GBIT
                )
            },
            mib(l.rss_before),
            mib(l.rss_steady),
            p50max(&fs.listed),
            fs.listed.len(),
            fs.sampled,
            if l.server == ServerKind::Inlet {
                p50max(&fs.api_ready)
            } else {
                "—".into()
            },
        );
    }
    for l in levels
        .iter()
        .filter(|l| !l.first_segment.failures.is_empty())
    {
        let _ = writeln!(
            s,
            "\nRound {} {} at {}: {} sampled publishers without a first segment; first: {}",
            l.round,
            l.server.label(),
            l.publishers,
            l.first_segment.failures.len(),
            l.first_segment.failures[0]
        );
    }
}

fn nginx_version() -> String {
    std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default()
}

/// One line of the accept-latency tables.
struct AcceptRow<'a> {
    round: usize,
    pass: String,
    server: ServerKind,
    attempts: usize,
    accept: &'a [Phases],
}

fn render(
    args: &Args,
    source: &Source,
    levels: &[LevelResult],
    probes: &[ProbeResult],
    pg_version: &str,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(s, "## ingest-bench\n");
    let _ = writeln!(
        s,
        "- Machine: {cpus} CPUs ({}); load average at the end: {}",
        cpu::model(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let _ = writeln!(
        s,
        "- Servers: `inlet` all-in-one (RUST_LOG={}, {}{}, PostgreSQL {pg_version} with \
         fsync {}); {} with `ngx_rtmp_module`, {} worker processes, `live on`, {}, record off, no \
         authorization, access log off",
        args.inlet_log,
        if args.hls {
            "HLS packaging (INLET_HLS_ENABLED=true, INLET_HLS_DIR under the run's directory)"
        } else {
            "discarding sink (INLET_HLS_ENABLED=false)"
        },
        args.inlet_env
            .iter()
            .map(|(k, v)| format!(", {k}={v}"))
            .collect::<String>(),
        if args.pg_fsync_off {
            "off (the bench's cluster)"
        } else {
            "on (the all-in-one's private cluster)"
        },
        nginx_version(),
        args.nginx_workers,
        if args.hls {
            "`hls on` (`hls_fragment 2s`, `hls_playlist_length 12s`, `hls_path` under the run's directory)"
        } else {
            "HLS off"
        }
    );
    let _ = writeln!(
        s,
        "- Source: {:.0} kb/s on the wire (RTMP framing included), looped every {} ms; chunk size {}; \
         one write per publisher every {} ms; load-level publishers: {}",
        source.wire_bps() / 1e3,
        source.period_ms,
        args.chunk_size,
        args.tick_ms,
        args.client_style.label()
    );
    let _ = writeln!(
        s,
        "- Levels: publishers connect at {}/s; {} s warm-up after the last accept, then a {} s window. \
         Probe: {} publishes at {}/s, each closed after `NetStream.Publish.Start`, no other load.\n",
        args.connect_rate, args.warmup_secs, args.window_secs, args.probes, args.probe_rate
    );

    let _ = writeln!(
        s,
        "### CPU per Gbit ingested (server process tree, steady-state window)\n"
    );
    let _ = writeln!(
        s,
        "| round | publishers | server | live | Mb/s sent | of offered | server CPU-s | CPU-s/Gbit | server cores | server context switches/s | generator CPU-s | PostgreSQL CPU-s | other CPU-s | machine busy |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for l in levels {
        let offered = source.wire_bps() * l.publishers as f64 / 1e6;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}/{} | {:.0} | {:.0} % | {:.2} | {:.3} | {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} % |",
            l.round,
            l.publishers,
            l.server.label(),
            l.live_at_end,
            l.publishers,
            l.mbps(),
            100.0 * l.mbps() / offered,
            l.server_cpu,
            l.cpu_per_gbit(),
            l.server_cpu / l.window.as_secs_f64(),
            l.server_switches as f64 / l.window.as_secs_f64(),
            l.generator_cpu,
            l.postgres_cpu,
            l.other(),
            100.0 * l.machine_busy / l.machine_total.max(1e-9),
        );
    }
    for l in levels {
        if l.accepted < l.publishers || l.dropped > 0 {
            let _ = writeln!(
                s,
                "\nRound {} {} at {}: {} accepted, {} dropped by the server; first failure: {}",
                l.round,
                l.server.label(),
                l.publishers,
                l.accepted,
                l.dropped,
                l.failures.first().map_or("none", String::as_str)
            );
        }
        if let Some(sb) = l.server_bytes {
            let _ = writeln!(
                s,
                "\nRound {} {} at {}: the ingest counted {:.1} % of the bytes the generator sent in the window.",
                l.round,
                l.server.label(),
                l.publishers,
                100.0 * sb / (l.bytes.max(1) as f64)
            );
        }
        if let Some(q) = l.quiet {
            let _ = writeln!(
                s,
                "\nRound {} {} at {}: machine {q:.0} % busy in the second before.",
                l.round,
                l.server.label(),
                l.publishers
            );
        }
    }

    // Side by side.
    let _ = writeln!(s, "\n### Side by side\n");
    let _ = writeln!(
        s,
        "| round | publishers | Inlet CPU-s/Gbit | nginx-rtmp CPU-s/Gbit | Inlet / nginx | Inlet accept p50 / p99 | nginx accept p50 / p99 |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
    for round in 1..=args.rounds {
        for &n in &args.levels {
            let find = |k: ServerKind| {
                levels
                    .iter()
                    .find(|l| l.round == round && l.publishers == n && l.server == k)
            };
            let (i, g) = (find(ServerKind::Inlet), find(ServerKind::Nginx));
            let cpg = |l: Option<&LevelResult>| {
                l.map_or_else(|| "n/a".into(), |l| format!("{:.3}", l.cpu_per_gbit()))
            };
            let acc = |l: Option<&LevelResult>| {
                l.and_then(|l| summary(&l.accept, |p| p.publish))
                    .map_or_else(
                        || "n/a".into(),
                        |x| format!("{} / {}", ms(x.p50), ms(x.p99)),
                    )
            };
            let ratio = match (i, g) {
                (Some(i), Some(g)) => format!("{:.2}", i.cpu_per_gbit() / g.cpu_per_gbit()),
                _ => "n/a".into(),
            };
            let _ = writeln!(
                s,
                "| {round} | {n} | {} | {} | {ratio} | {} | {} |",
                cpg(i),
                cpg(g),
                acc(i),
                acc(g)
            );
        }
    }

    if args.rounds > 1 {
        let _ = writeln!(
            s,
            "\nAll rounds together (CPU-seconds and bits of every round summed; min–max of the \
             per-round figures in parentheses):\n"
        );
        let _ = writeln!(
            s,
            "| publishers | Inlet CPU-s/Gbit | nginx-rtmp CPU-s/Gbit | Inlet / nginx |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|");
        for &n in &args.levels {
            let of = |k: ServerKind| -> Option<(f64, f64, f64)> {
                let ls: Vec<&LevelResult> = levels
                    .iter()
                    .filter(|l| l.publishers == n && l.server == k)
                    .collect();
                let cpu: f64 = ls.iter().map(|l| l.server_cpu).sum();
                let gbit: f64 = ls.iter().map(|l| l.gbit()).sum();
                let per: Vec<f64> = ls.iter().map(|l| l.cpu_per_gbit()).collect();
                let lo = per.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = per.iter().copied().fold(0.0, f64::max);
                (gbit > 0.0).then(|| (cpu / gbit, lo, hi))
            };
            let fmt = |x: Option<(f64, f64, f64)>| {
                x.map_or_else(
                    || "n/a".into(),
                    |(v, lo, hi)| format!("{v:.3} ({lo:.3}–{hi:.3})"),
                )
            };
            let (i, g) = (of(ServerKind::Inlet), of(ServerKind::Nginx));
            let ratio = match (i, g) {
                (Some(i), Some(g)) => format!("{:.2}", i.0 / g.0),
                _ => "n/a".into(),
            };
            let _ = writeln!(s, "| {n} | {} | {} | {ratio} |", fmt(i), fmt(g));
        }
    }

    if args.hls {
        render_hls(&mut s, levels);
    }

    let _ = writeln!(
        s,
        "\n### Publish accept latency (client: TCP connect start → `NetStream.Publish.Start`, ms)\n"
    );
    let _ = writeln!(
        s,
        "| round | pass | server | accepted | p50 | p90 | p99 | max | mean |"
    );
    let _ = writeln!(s, "|---:|---|---|---:|---:|---:|---:|---:|---:|");
    let mut rows: Vec<AcceptRow> = Vec::new();
    for p in probes {
        rows.push(AcceptRow {
            round: p.round,
            pass: format!("probe at {}/s, idle, {}", args.probe_rate, p.style.label()),
            server: p.server,
            attempts: p.attempts,
            accept: &p.accept,
        });
    }
    for l in levels {
        rows.push(AcceptRow {
            round: l.round,
            pass: format!(
                "ramp of {} at {}/s, {}",
                l.publishers,
                args.connect_rate,
                args.client_style.label()
            ),
            server: l.server,
            attempts: l.publishers,
            accept: &l.accept,
        });
    }
    for AcceptRow {
        round,
        pass,
        server,
        attempts: of,
        accept,
    } in &rows
    {
        let ok = accept.len();
        let sum = summary(accept, |p| p.publish);
        let _ = writeln!(
            s,
            "| {round} | {pass} | {} | {ok}/{of} | {} | {} | {} | {} | {} |",
            server.label(),
            fmt_summary(&sum, |x| x.p50),
            fmt_summary(&sum, |x| x.p90),
            fmt_summary(&sum, |x| x.p99),
            fmt_summary(&sum, |x| x.max),
            fmt_summary(&sum, |x| x.mean),
        );
    }
    for p in probes {
        if let Some(q) = p.quiet {
            let _ = writeln!(
                s,
                "\nRound {} probe {} ({}): machine {q:.0} % busy in the second before.",
                p.round,
                p.server.label(),
                p.style.label()
            );
        }
    }
    for p in probes.iter().filter(|p| !p.failures.is_empty()) {
        let _ = writeln!(
            s,
            "\nRound {} probe {} ({}): {} failures, first: {}",
            p.round,
            p.server.label(),
            p.style.label(),
            p.failures.len(),
            p.failures[0]
        );
    }

    let _ = writeln!(
        s,
        "\nWhere the accept time goes: p50 / p99 of the time from the TCP connect start to the end of \
         each phase (ms):\n"
    );
    let _ = writeln!(
        s,
        "| round | pass | server | TCP connected | S0S1S2 read | connect `_result` | createStream `_result` | Publish.Start |"
    );
    let _ = writeln!(s, "|---:|---|---|---:|---:|---:|---:|---:|");
    for AcceptRow {
        round,
        pass,
        server,
        accept,
        ..
    } in &rows
    {
        let col = |f: fn(&Phases) -> Duration| {
            summary(accept, f).map_or_else(
                || "n/a".into(),
                |x| format!("{} / {}", ms(x.p50), ms(x.p99)),
            )
        };
        let _ = writeln!(
            s,
            "| {round} | {pass} | {} | {} | {} | {} | {} | {} |",
            server.label(),
            col(|p| p.tcp),
            col(|p| p.handshake),
            col(|p| p.connect),
            col(|p| p.create_stream),
            col(|p| p.publish),
        );
    }

    let _ = writeln!(
        s,
        "\nInlet's own histograms (`{ACCEPT_HISTOGRAM}`: TCP accept → Publish.Start written; \
         `{AUTHORIZE_HISTOGRAM}`: the API round trip), quantiles interpolated inside the bucket \
         (bounds in ms):\n"
    );
    let _ = writeln!(
        s,
        "| round | pass | accept p50 | accept p99 | authorize p50 | authorize p99 |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|");
    for p in probes.iter().filter(|p| p.server == ServerKind::Inlet) {
        let _ = writeln!(
            s,
            "| {} | probe, {} | {} | {} | {} | {} |",
            p.round,
            p.style.label(),
            fmt_quantile(&p.server_accept, 0.5),
            fmt_quantile(&p.server_accept, 0.99),
            fmt_quantile(&p.server_authorize, 0.5),
            fmt_quantile(&p.server_authorize, 0.99),
        );
    }
    for l in levels.iter().filter(|l| l.server == ServerKind::Inlet) {
        let _ = writeln!(
            s,
            "| {} | ramp of {} | {} | {} | {} | {} |",
            l.round,
            l.publishers,
            fmt_quantile(&l.server_accept, 0.5),
            fmt_quantile(&l.server_accept, 0.99),
            fmt_quantile(&l.server_authorize, 0.5),
            fmt_quantile(&l.server_authorize, 0.99),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_reads_an_unlabelled_counter() {
        let text = "# TYPE inlet_ingest_ingested_bytes counter\ninlet_ingest_ingested_bytes_total 12345\ninlet_ingest_ingested_bytes_totalx 1\n";
        assert_eq!(scalar(text, INGESTED_BYTES), Some(12345.0));
        assert_eq!(scalar(text, "missing"), None);
    }

    #[test]
    fn a_playlist_lists_a_segment_once_it_has_a_uri_line() {
        assert!(!lists_segment(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        ));
        assert!(lists_segment(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\nseg-1-0.ts\n"
        ));
    }

    #[test]
    fn playback_id_from_the_hls_url() {
        assert_eq!(
            playback_id("http://127.0.0.1:8081/hls/AbC123/index.m3u8"),
            Some("AbC123")
        );
        assert_eq!(playback_id("index.m3u8"), None);
    }
}
