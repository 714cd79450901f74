//! `authorize-bench`: latency of publish authorization (`POST /internal/v1/publish/authorize`)
//! against a real PostgreSQL, at a given number of concurrent clients.
//!
//! It starts a private PostgreSQL cluster under the temp directory, runs `inlet-api` in this
//! process on its own Tokio runtime (named `inlet-api` threads), or with `--api-bin` a given
//! `inlet-api` binary as a child process (to compare two builds), creates a tenant and streams over
//! the public API, then drives authorize calls from concurrent clients on a second runtime
//! (`bench-client` threads), each with its own keep-alive connection. It reports, per concurrency
//! level, the latency seen by the clients (HTTP and loopback included) and the API's own histogram
//! `inlet_api_authorize_duration_seconds` (decide + attempt insert), scraped from `/metrics` before
//! and after the measured run, plus where the CPU went. Output is Markdown on stdout; progress goes
//! to stderr. The cluster is stopped at the end and removed once the process has exited.
//!
//! It measures the API from outside only: it never reaches into the API's internals.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use inlet_bench::prom::{self, Histogram, Quantile};
use inlet_bench::servers::{self, ApiServer, ServerOptions};
use inlet_bench::stats::{self, Summary, ms};
use inlet_bench::{cpu, pg};
use inlet_contract::publish::{AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse, ReasonCode};
use inlet_pgcluster::{Cluster, ClusterOptions};
use tokio::time::Instant;

/// The node secret shared by the in-process API and the clients.
const NODE_SECRET: &str = "bench-node-secret";
/// The operator token of the in-process API.
use inlet_bench::api::{ADMIN_TOKEN, create_streams, scrape};
/// Source address of the valid publishes (TEST-NET-2).
const VALID_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The API's histogram of its own part of an authorization.
const AUTHORIZE_HISTOGRAM: &str = "inlet_api_authorize_duration_seconds";
/// The API's per-route HTTP latency histogram (middleware: routing, JSON, handler).
const HTTP_HISTOGRAM: &str = "inlet_api_http_request_duration_seconds";
/// The budget the acceptance item sets for the API's part.
const BUDGET_SECS: f64 = 0.005;
/// A request that takes longer than this is a failure, not a sample.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// In open-loop mode, a request that starts later than this after its slot counts as late.
const LATE_START: Duration = Duration::from_millis(2);

/// Measures publish authorization latency against a real PostgreSQL.
#[derive(Parser, Debug)]
#[command(name = "authorize-bench")]
struct Args {
    /// Concurrent clients. A comma-separated list (e.g. `1,10,50`) measures each level in turn.
    #[arg(
        long,
        env = "INLET_BENCH_CONCURRENCY",
        value_delimiter = ',',
        default_value = "50"
    )]
    concurrency: Vec<usize>,
    /// Measured requests per concurrency level.
    #[arg(long, env = "INLET_BENCH_REQUESTS", default_value_t = 20_000)]
    requests: usize,
    /// Unmeasured warm-up requests before each level.
    #[arg(long, env = "INLET_BENCH_WARMUP", default_value_t = 2_000)]
    warmup: usize,
    /// Streams created (their keys are used round-robin).
    #[arg(long, env = "INLET_BENCH_STREAMS", default_value_t = 200)]
    streams: usize,
    /// Share of requests, in percent, that present a wrong secret for an existing key id.
    #[arg(long, env = "INLET_BENCH_INVALID_PERCENT", default_value_t = 10)]
    invalid_percent: usize,
    /// Connections in the API's database pool.
    #[arg(long, env = "INLET_BENCH_POOL", default_value_t = 40)]
    pool: u32,
    /// Run PostgreSQL with fsync and synchronous commit on, as the all-in-one `inlet` does.
    /// Default: off, as in the test suite (commits do not wait for the disk).
    #[arg(long, env = "INLET_BENCH_FSYNC")]
    fsync: bool,
    /// Open loop: start requests at this total rate (per second) instead of back to back.
    #[arg(long, env = "INLET_BENCH_RATE")]
    rate: Option<f64>,
    /// Install an info-level log subscriber writing to a sink, so log formatting costs what it does
    /// in production (without the terminal I/O).
    #[arg(long)]
    logs: bool,
    /// Load pg_stat_statements and report the execution time of each statement (restarts the
    /// cluster once before the run).
    #[arg(long)]
    pg_stats: bool,
    /// Before each level, wait (up to 10 minutes) until the machine has been less than this busy,
    /// in percent, for a whole second: on a shared machine, neighbours' builds otherwise dominate.
    #[arg(long, env = "INLET_BENCH_QUIET_BELOW")]
    quiet_below: Option<f64>,
    /// Worker threads of the API's runtime (default: one per CPU).
    #[arg(long)]
    api_threads: Option<usize>,
    /// Worker threads of the clients' runtime (default: one per CPU).
    #[arg(long)]
    client_threads: Option<usize>,
    /// Measure this `inlet-api` binary, run as a child process, instead of the API built into this
    /// benchmark (e.g. a release build of another commit, to compare two builds; `--api-threads`
    /// does not apply: the binary runs one worker per CPU). Its CPU is read from `/proc`.
    #[arg(long, env = "INLET_BENCH_API_BIN")]
    api_bin: Option<PathBuf>,
    /// What the report calls the API measured (default: "in-process" or the binary's path).
    #[arg(long)]
    label: Option<String>,
    /// SQL run on the bench database after the set-up, before the first warm-up (repeatable), e.g.
    /// to try a changed SQL function without changing the migrations. Reported.
    #[arg(long = "sql-before-run")]
    sql_before_run: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency.contains(&0) || args.requests == 0 || args.streams == 0 {
        bail!("--concurrency, --requests and --streams must be positive");
    }
    if args.pool == 0 || args.api_threads == Some(0) || args.client_threads == Some(0) {
        bail!("--pool, --api-threads and --client-threads must be positive");
    }
    if args.api_bin.is_some() && args.api_threads.is_some() {
        bail!("--api-threads applies to the in-process API only, not to --api-bin");
    }
    if args.invalid_percent > 100 {
        bail!("--invalid-percent is a percentage (0-100)");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of requests per second");
    }
    if args.logs {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::sink)
            .init();
    }

    let opts = pg::temp_options("inlet-bench-pg", args.fsync);
    let mut cluster = pg::start(&opts)?;
    let outcome = bench(&args, &mut cluster, &opts);
    let stopped = cluster.stop();
    let report = outcome?;
    stopped.context("could not stop the private PostgreSQL")?;
    print!("{}", report.markdown);
    if report.unexpected > 0 {
        bail!(
            "{} authorize answers were not the expected decision (see the table); the figures above \
             are not valid",
            report.unexpected
        );
    }
    Ok(())
}

struct Report {
    markdown: String,
    unexpected: usize,
}

/// Everything between cluster start and stop.
fn bench(args: &Args, cluster: &mut Cluster, opts: &ClusterOptions) -> anyhow::Result<Report> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.unwrap_or(cpus))
        .thread_name("bench-client")
        .enable_all()
        .build()
        .context("could not build the clients' runtime")?;

    if args.pg_stats {
        client_rt.block_on(pg::enable_pg_stat_statements(cluster, opts))?;
    }
    let url = cluster.url("bench");
    client_rt
        .block_on(inlet_api::ensure_database(
            &cluster.url("postgres"),
            "bench",
        ))
        .context("could not create the bench database")?;

    let api = match &args.api_bin {
        None => Api::InProcess(ApiThread::start(args, &url, cpus)?),
        Some(bin) => {
            let dir = opts.data_dir.with_extension("api");
            let log_filter = if args.logs { "info" } else { "warn" };
            let env = [
                (
                    "INLET_DB_MAX_CONNECTIONS".to_string(),
                    args.pool.to_string(),
                ),
                // As in-process: the cool-down stays out of the figures.
                ("INLET_AUTH_MAX_FAILURES".to_string(), u32::MAX.to_string()),
            ];
            eprintln!("starting {}", bin.display());
            let options = ServerOptions {
                bin,
                dir: &dir,
                admin_token: ADMIN_TOKEN,
                log_filter,
                env: &env,
            };
            let server = client_rt.block_on(ApiServer::start(&options, &url, NODE_SECRET))?;
            Api::Child(server, dir)
        }
    };
    let outcome = client_rt.block_on(drive(args, &api, &url, cluster.data_dir(), cpus));
    let stopped = match api {
        Api::InProcess(thread) => thread.stop(),
        Api::Child(server, dir) => {
            let stopped = client_rt.block_on(server.stop());
            let _ = std::fs::remove_dir_all(dir);
            stopped
        }
    };
    let report = outcome?;
    stopped?;
    Ok(report)
}

/// The API measured.
enum Api {
    InProcess(ApiThread),
    /// A child process, and its directory (the log).
    Child(ApiServer, PathBuf),
}

impl Api {
    fn addr(&self) -> SocketAddr {
        match self {
            Api::InProcess(t) => t.addr,
            Api::Child(s, _) => s.addr,
        }
    }

    /// CPU-seconds the child has used so far (`None` in-process: its threads are ours).
    fn child_cpu(&self) -> Option<f64> {
        match self {
            Api::InProcess(_) => None,
            Api::Child(s, _) => Some(servers::tree_cpu_secs(s.pid())),
        }
    }
}

/// `inlet-api` running in this process on its own runtime and thread.
struct ApiThread {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl ApiThread {
    fn start(args: &Args, url: &str, cpus: usize) -> anyhow::Result<ApiThread> {
        let mut config = inlet_api::ApiConfig::defaults();
        config.database_url = Some(url.to_string());
        config.node_secret = Some(NODE_SECRET.into());
        config.secret_key = Some("bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz".into());
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.rate_limit_per_token = 1_000_000;
        config.rate_limit_per_tenant = 1_000_000;
        config.rate_limit_per_ip = 1_000_000;
        // Wrong-secret requests come from distinct addresses anyway; this keeps the cool-down (which
        // answers without a database lookup) out of the figures whatever the mix.
        config.auth_max_failures = u32::MAX;
        config.db_max_connections = args.pool;

        let workers = args.api_threads.unwrap_or(cpus);
        let pool = args.pool;
        let url = url.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<SocketAddr>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("inlet-api-main".into())
            .spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("inlet-api")
                    .enable_all()
                    .build()
                    .context("could not build the API's runtime")?;
                rt.block_on(async move {
                    let setup = async {
                        let db = inlet_api::connect(&url, pool, Duration::from_secs(30)).await?;
                        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                            .await
                            .context("could not bind the API's listener")?;
                        let addr = listener.local_addr()?;
                        anyhow::Ok((db, listener, addr))
                    };
                    let (db, listener, addr) = match setup.await {
                        Ok(v) => v,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(addr));
                    inlet_api::serve(listener, db.clone(), config, async {
                        // A dropped sender stops the API too.
                        let _ = stop_rx.await;
                    })
                    .await?;
                    db.close().await;
                    Ok(())
                })
            })
            .context("could not spawn the API's thread")?;
        let addr = match ready_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => return Err(e.context("the API did not start")),
            Err(_) => {
                let end = thread.join();
                bail!("the API's thread ended before it was ready: {end:?}");
            }
        };
        Ok(ApiThread { addr, stop, thread })
    }

    fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(result) => result.context("the API failed"),
            Err(_) => bail!("the API's thread panicked"),
        }
    }
}

/// What the clients send, precomputed so that building requests costs nothing measurable.
struct Workload {
    url: String,
    valid: Vec<String>,
    wrong_secret: Vec<String>,
    invalid_percent: usize,
}

impl Workload {
    /// Whether request `i` presents a wrong secret. Spreads the invalid ones evenly: with 10 %,
    /// one request in ten.
    fn invalid(&self, i: usize) -> bool {
        (i * self.invalid_percent) % 100 + self.invalid_percent >= 100 && self.invalid_percent > 0
    }

    fn request(&self, i: usize) -> AuthorizeRequest {
        let invalid = self.invalid(i);
        let (keys, client_ip) = if invalid {
            // A distinct address per failure, from the benchmarking range 198.18.0.0/15.
            let ip = Ipv4Addr::new(198, 18 + ((i >> 16) & 1) as u8, (i >> 8) as u8, i as u8);
            (&self.wrong_secret, ip)
        } else {
            (&self.valid, VALID_IP)
        };
        AuthorizeRequest {
            app: "live".into(),
            publish_name: keys[i % keys.len()].clone(),
            connect_query: None,
            client_ip: IpAddr::V4(client_ip),
            tls: false,
            node_id: "bench".into(),
        }
    }
}

/// The same key id with a different secret of the same shape (`sk_<id>_<secret>`).
fn wrong_secret(key: &str) -> anyhow::Result<String> {
    let (head, secret) = key
        .rsplit_once('_')
        .context("a stream key does not have the form sk_<id>_<secret>")?;
    let flipped: String = secret
        .chars()
        .rev()
        .enumerate()
        .map(|(n, c)| match (n, c) {
            (0..4, 'A') => 'B',
            (0..4, _) => 'A',
            (_, c) => c,
        })
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if flipped == secret {
        bail!("could not derive a wrong secret");
    }
    Ok(format!("{head}_{flipped}"))
}

/// Raw results of one batch of requests.
#[derive(Default)]
struct Batch {
    valid: Vec<Duration>,
    invalid: Vec<Duration>,
    unexpected: usize,
    first_unexpected: Option<String>,
    late_starts: usize,
    elapsed: Duration,
}

/// Sends `n` authorize calls from `clients` concurrent clients, back to back or at `rate`.
async fn run_batch(
    work: Arc<Workload>,
    n: usize,
    clients: usize,
    rate: Option<f64>,
) -> anyhow::Result<Batch> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let work = work.clone();
        let next = next.clone();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("could not build an HTTP client")?;
        tasks.spawn(async move {
            let mut out = Batch::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = work.request(i);
                if let Some(rate) = rate {
                    let slot = t0 + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(slot).await;
                    if Instant::now() > slot + LATE_START {
                        out.late_starts += 1;
                    }
                }
                let start = Instant::now();
                let outcome = call(&client, &work.url, &body).await;
                let took = start.elapsed();
                let invalid = work.invalid(i);
                let expected = match &outcome {
                    Ok(AuthorizeResponse::Allow(_)) => !invalid,
                    Ok(AuthorizeResponse::Deny(d)) => {
                        invalid && d.reason_code == ReasonCode::InvalidKey
                    }
                    Err(_) => false,
                };
                if !expected {
                    out.unexpected += 1;
                    if out.first_unexpected.is_none() {
                        out.first_unexpected = Some(match outcome {
                            Ok(r) => format!("request {i} (invalid: {invalid}) answered {r:?}"),
                            Err(e) => format!("request {i} failed: {e:#}"),
                        });
                    }
                } else if invalid {
                    out.invalid.push(took);
                } else {
                    out.valid.push(took);
                }
            }
            out
        });
    }
    let mut all = Batch::default();
    while let Some(joined) = tasks.join_next().await {
        let b = joined.context("a client task panicked")?;
        all.valid.extend(b.valid);
        all.invalid.extend(b.invalid);
        all.unexpected += b.unexpected;
        all.late_starts += b.late_starts;
        if all.first_unexpected.is_none() {
            all.first_unexpected = b.first_unexpected;
        }
    }
    all.elapsed = t0.elapsed();
    Ok(all)
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    body: &AuthorizeRequest,
) -> anyhow::Result<AuthorizeResponse> {
    let resp = client
        .post(url)
        .bearer_auth(NODE_SECRET)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!("HTTP {status}: {text}");
    }
    Ok(resp.json().await?)
}

/// The figures of one concurrency level.
struct Level {
    clients: usize,
    /// Machine busy share (percent) in the last second before the level, and how long we waited.
    quiet: Option<(f64, Duration)>,
    batch: Batch,
    all: Summary,
    valid: Option<Summary>,
    invalid: Option<Summary>,
    server: Option<Histogram>,
    http: Option<Histogram>,
    cpu: cpu::Usage,
    /// CPU-seconds of the API's child process, when it is one.
    api_cpu: Option<f64>,
    statements: Vec<pg::Statement>,
}

async fn drive(
    args: &Args,
    api: &Api,
    db_url: &str,
    pg_data_dir: &Path,
    cpus: usize,
) -> anyhow::Result<Report> {
    let base = format!("http://{}", api.addr());
    let setup = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("could not build an HTTP client")?;

    eprintln!(
        "API on {base}; creating a tenant and {} streams",
        args.streams
    );
    let (_token, streams) = create_streams(&setup, &base, args.streams).await?;
    // Every accepted authorization claims its stream's live slot (the session is never reported
    // ended here), so lift the tenant's concurrent-live quota out of the way; repeated publishes on
    // a stream then take over its previous session, as a reconnecting encoder does.
    pg::execute(db_url, "UPDATE tenants SET max_concurrent_live = 1000000").await?;
    for sql in &args.sql_before_run {
        pg::execute(db_url, sql).await?;
    }
    let valid: Vec<String> = streams.into_iter().map(|(_, key)| key).collect();
    let wrong_secret = valid
        .iter()
        .map(|k| wrong_secret(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let work = Arc::new(Workload {
        url: format!("{base}{AUTHORIZE_PATH}"),
        valid,
        wrong_secret,
        invalid_percent: args.invalid_percent,
    });

    let stats_db = if args.pg_stats {
        Some(pg::stats_pool(db_url).await?)
    } else {
        None
    };
    let pg_version = pg::server_version(db_url).await?;

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut levels = Vec::new();
    for &clients in &args.concurrency {
        let quiet = match args.quiet_below {
            Some(limit) => Some(cpu::wait_quiet(limit, QUIET_MAX_WAIT).await),
            None => None,
        };
        eprintln!("{clients} clients: warm-up ({} requests)", args.warmup);
        let warm = run_batch(work.clone(), args.warmup, clients, None).await?;
        if warm.unexpected > 0 {
            bail!(
                "warm-up: {} unexpected answers, first: {}",
                warm.unexpected,
                warm.first_unexpected.unwrap_or_default()
            );
        }
        let metrics_before = scrape(&setup, &base).await?;
        if let Some(db) = &stats_db {
            pg::reset_statements(db).await?;
        }
        let cpu_before = cpu::snapshot(pg_data_dir);
        let api_cpu_before = api.child_cpu();
        eprintln!("{clients} clients: measuring ({} requests)", args.requests);
        let mut batch = run_batch(work.clone(), args.requests, clients, args.rate).await?;
        let cpu = cpu::snapshot(pg_data_dir).since(&cpu_before);
        let api_cpu = api.child_cpu().zip(api_cpu_before).map(|(a, b)| a - b);
        let metrics_after = scrape(&setup, &base).await?;
        let statements = match &stats_db {
            Some(db) => pg::statements(db).await?,
            None => Vec::new(),
        };
        let histogram_delta = |name: &str, with: &[(&str, &str)]| {
            let after = prom::histogram(&metrics_after, name, with)?;
            match prom::histogram(&metrics_before, name, with) {
                Some(before) => after.since(&before),
                None => Some(after),
            }
        };
        let server = histogram_delta(AUTHORIZE_HISTOGRAM, &[]);
        let http = histogram_delta(HTTP_HISTOGRAM, &[("route", AUTHORIZE_PATH)]);
        let mut all: Vec<Duration> = batch.valid.iter().chain(&batch.invalid).copied().collect();
        let all = stats::summarize(&mut all).context("no request succeeded")?;
        let valid = stats::summarize(&mut batch.valid);
        let invalid = stats::summarize(&mut batch.invalid);
        levels.push(Level {
            clients,
            quiet,
            batch,
            all,
            valid,
            invalid,
            server,
            http,
            cpu,
            api_cpu,
            statements,
        });
    }
    if let Some(db) = stats_db {
        db.close().await;
    }

    let unexpected = levels.iter().map(|l| l.batch.unexpected).sum();
    let markdown = render(args, cpus, &pg_version, load_before.trim(), &levels);
    Ok(Report {
        markdown,
        unexpected,
    })
}

/// Longest wait for a quiet machine.
const QUIET_MAX_WAIT: Duration = Duration::from_secs(600);

fn quantile_ms(h: Option<&Histogram>, q: f64) -> String {
    let fmt_bound = |b: f64| {
        if b.is_infinite() {
            "∞".to_string()
        } else {
            format!("{}", b * 1e3)
        }
    };
    match h.and_then(|h| h.quantile(q)) {
        Some(Quantile {
            estimate,
            lower,
            upper,
        }) => format!(
            "{:.2} ({}–{})",
            estimate * 1e3,
            fmt_bound(lower),
            fmt_bound(upper)
        ),
        None => "n/a".into(),
    }
}

fn share_pct(h: Option<&Histogram>, bound: f64) -> String {
    h.and_then(|h| h.share_at_or_below(bound))
        .map_or_else(|| "n/a".into(), |s| format!("{:.2} %", s * 100.0))
}

fn render(args: &Args, cpus: usize, pg_version: &str, load: &str, levels: &[Level]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mode = match args.rate {
        Some(r) => format!("open loop at {r} requests/s in total"),
        None => {
            "closed loop (each client sends its next request as soon as the answer is read)".into()
        }
    };
    let api = match (&args.label, &args.api_bin) {
        (Some(label), _) => label.clone(),
        (None, Some(bin)) => bin.display().to_string(),
        (None, None) => "in-process".into(),
    };
    let _ = writeln!(s, "## authorize-bench ({api})\n");
    let _ = writeln!(
        s,
        "- Machine: {cpus} CPUs ({}); load average before the run: {load}",
        cpu::model()
    );
    let runtime = match &args.api_bin {
        Some(bin) => format!(
            "API: `{}` as a child process (one worker thread per CPU)",
            bin.display()
        ),
        None => format!(
            "API in this process, runtime {} worker threads",
            args.api_threads.unwrap_or(cpus)
        ),
    };
    let logs = match (args.logs, args.api_bin.is_some()) {
        (true, false) => "formatted at info level into a sink",
        (true, true) => "info level into a file",
        (false, false) => "off",
        (false, true) => "warn level into a file",
    };
    let _ = writeln!(
        s,
        "- PostgreSQL {pg_version}, private cluster, fsync {}; API pool {} connections; {runtime}, \
         clients' runtime {} (same CPUs); logs {logs}",
        if args.fsync { "on" } else { "off" },
        args.pool,
        args.client_threads.unwrap_or(cpus),
    );
    let _ = writeln!(
        s,
        "- Load: {mode}; {} measured requests per level after {} warm-up; {} streams; {} % wrong-secret \
         keys from distinct addresses",
        args.requests, args.warmup, args.streams, args.invalid_percent
    );
    for sql in &args.sql_before_run {
        let mut lines = sql.lines();
        let first = lines.next().unwrap_or_default();
        let more = if lines.next().is_some() { " …" } else { "" };
        let _ = writeln!(s, "- Before the run: `{first}`{more}");
    }
    let _ = writeln!(
        s,
        "- Client: wall time per call at the load generator (HTTP/1.1 keep-alive over loopback, JSON), \
         nearest-rank percentiles. Server: the API's `{AUTHORIZE_HISTOGRAM}` (decide + attempt insert), \
         interpolated inside its bucket (bucket bounds in ms in parentheses); \"≤ 5 ms\" is exact (5 ms \
         is a bucket bound).\n"
    );

    let _ = writeln!(
        s,
        "| clients | req/s | client p50 | client p90 | client p99 | client max | server p50 | server p99 | server ≤ 5 ms | unexpected |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in levels {
        let ok = l.all.count as f64;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.clients,
            ok / l.batch.elapsed.as_secs_f64(),
            ms(l.all.p50),
            ms(l.all.p90),
            ms(l.all.p99),
            ms(l.all.max),
            quantile_ms(l.server.as_ref(), 0.5),
            quantile_ms(l.server.as_ref(), 0.99),
            share_pct(l.server.as_ref(), BUDGET_SECS),
            l.batch.unexpected,
        );
    }
    for l in levels {
        if let Some((busy, waited)) = l.quiet {
            let _ = writeln!(
                s,
                "\n{} clients: machine {busy:.0} % busy in the second before the level (waited {} s \
                 for it to be quiet)",
                l.clients,
                waited.as_secs()
            );
        }
        if let Some(first) = &l.batch.first_unexpected {
            let _ = writeln!(
                s,
                "\nFirst unexpected answer at {} clients: {first}",
                l.clients
            );
        }
        if l.batch.late_starts > 0 {
            let _ = writeln!(
                s,
                "\n{} clients: {} requests started more than {} ms after their slot (timer wake-up \
                 lateness, or all clients busy: then the rate is more than they can send and the \
                 latency under-reports queueing)",
                l.clients,
                l.batch.late_starts,
                LATE_START.as_millis()
            );
        }
    }

    let _ = writeln!(
        s,
        "\nBy request kind (client, ms), the API's HTTP layer (`{HTTP_HISTOGRAM}` for the route: \
         routing, JSON, handler), and the server-side means:\n"
    );
    let _ = writeln!(
        s,
        "| clients | valid p50 | valid p99 | wrong-secret p50 | wrong-secret p99 | HTTP p50 | HTTP p99 | HTTP ≤ 5 ms | client mean | server mean |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let opt = |sum: &Option<Summary>, f: fn(&Summary) -> Duration| {
        sum.as_ref().map_or_else(|| "n/a".into(), |x| ms(f(x)))
    };
    for l in levels {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.clients,
            opt(&l.valid, |x| x.p50),
            opt(&l.valid, |x| x.p99),
            opt(&l.invalid, |x| x.p50),
            opt(&l.invalid, |x| x.p99),
            quantile_ms(l.http.as_ref(), 0.5),
            quantile_ms(l.http.as_ref(), 0.99),
            share_pct(l.http.as_ref(), BUDGET_SECS),
            ms(l.all.mean),
            l.server
                .as_ref()
                .and_then(Histogram::mean)
                .map_or_else(|| "n/a".into(), |m| format!("{:.2}", m * 1e3)),
        );
    }

    let _ = writeln!(
        s,
        "\nCPU during the measured run (CPU-seconds; \"other\" is everything else on the machine, \
         i.e. noise from neighbours):\n"
    );
    let _ = writeln!(
        s,
        "| clients | wall s | machine busy | API | client threads | PostgreSQL | other | API CPU µs/req | PostgreSQL CPU µs/req |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in levels {
        let u = &l.cpu;
        let in_process = u.threads_named("inlet-api");
        let api = l.api_cpu.unwrap_or(in_process);
        let client = u.process() - in_process;
        let other = (u.machine_busy - u.process() - u.postgres - l.api_cpu.unwrap_or(0.0)).max(0.0);
        let n = l.all.count.max(1) as f64;
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.0} % | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
            l.clients,
            l.batch.elapsed.as_secs_f64(),
            if u.machine_total > 0.0 {
                100.0 * u.machine_busy / u.machine_total
            } else {
                0.0
            },
            api,
            client,
            u.postgres,
            other,
            api / n * 1e6,
            u.postgres / n * 1e6,
        );
    }

    for l in levels.iter().filter(|l| !l.statements.is_empty()) {
        let n = l.all.count.max(1) as f64;
        let total: f64 = l.statements.iter().map(|st| st.total_ms).sum();
        let _ = writeln!(
            s,
            "\npg_stat_statements at {} clients (execution inside PostgreSQL only; {:.3} ms per \
             authorize in total):\n",
            l.clients,
            total / n
        );
        pg::statements_table(&mut s, &l.statements, 90);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_secret_keeps_the_shape_and_changes_the_secret() {
        let key = "sk_AbCdEfGhIj_0123456789abcdef0123456789abAAAA";
        let wrong = wrong_secret(key).expect("wrong");
        assert_eq!(wrong.len(), key.len());
        assert!(wrong.starts_with("sk_AbCdEfGhIj_0123456789abcdef0123456789ab"));
        assert_ne!(wrong, key);
    }

    #[test]
    fn ten_percent_invalid_is_one_in_ten() {
        let w = Workload {
            url: String::new(),
            valid: vec!["a".into()],
            wrong_secret: vec!["b".into()],
            invalid_percent: 10,
        };
        assert_eq!((0..1000).filter(|&i| w.invalid(i)).count(), 100);
        let none = Workload {
            invalid_percent: 0,
            ..w
        };
        assert_eq!((0..1000).filter(|&i| none.invalid(i)).count(), 0);
    }
}
