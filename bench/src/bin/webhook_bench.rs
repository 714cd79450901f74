//! `webhook-bench`: throughput and latency of webhook delivery, against a real `inlet-api` process.
//!
//! It starts a private PostgreSQL under the temp directory, a webhook receiver in this process (plain
//! HTTP on 127.0.0.1 answering `204` at once and recording when each delivery arrived, on a runtime
//! of its own: threads `bench-receiver`) and the release `inlet-api` as a child process with
//! `INLET_WEBHOOK_ALLOW_PRIVATE=true`. Over the public API it creates a tenant, streams and one
//! webhook endpoint (every event type, every stream) pointing at the receiver. Events are then
//! written the way the API writes them, through the outbox function `inlet_emit` (migration 0009),
//! called on the database directly:
//!
//! - **Latency**: a freshly started API; events are emitted one per transaction at a paced rate
//!   (default 200/s) by a few connections, for a cold-start window (default 30 s from the API's
//!   start) and a steady window after it (30 s). Latency is the receiver's arrival time minus the
//!   time the emitting transaction's `COMMIT` returned, both on this process's monotonic clock.
//! - **Throughput**: N events (default 20,000) spread over K streams are queued, by default while
//!   no API process runs (each batch of `inlet_emit` calls commits on its own), then the API starts
//!   and the receiver's first-to-last arrival gives deliveries per second. With `--queue one-tx`
//!   they are queued in one transaction while the worker runs instead.
//!
//! Every arrival is matched to an emitted event by its `webhook-id` (the event id); missing,
//! duplicate or unknown deliveries are reported. CPU of the API process, PostgreSQL, this process's
//! threads and the rest of the machine is read from `/proc`. The Markdown report goes to stdout,
//! progress to stderr. It measures the API from outside only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use inlet_bench::api::{ADMIN_TOKEN, create_streams, create_webhook, scrape};
use inlet_bench::prom::{self, Histogram};
use inlet_bench::receiver::{Arrival, Receiver};
use inlet_bench::servers::{self, ApiServer, ServerOptions};
use inlet_bench::stats::{self, ms};
use inlet_bench::{cpu, pg};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The node secret the API is given (nothing calls the internal API here).
const NODE_SECRET: &str = "bench-node-secret";
/// The event type emitted: one that concerns a stream, so `inlet_emit` adds the stream's snapshot
/// as the API's own events do.
const EVENT_TYPE: &str = "stream.updated";
/// The API's histogram from an event's creation to its successful delivery.
const LAG_HISTOGRAM: &str = "inlet_api_webhook_delivery_latency_seconds";
/// The API's histogram of one delivery attempt (request to answer).
const ATTEMPT_HISTOGRAM: &str = "inlet_api_webhook_attempt_duration_seconds";
/// An emit that starts later than this after its slot counts as late.
const LATE_START: Duration = Duration::from_millis(5);
/// Longest wait for a quiet machine.
const QUIET_MAX_WAIT: Duration = Duration::from_secs(300);
/// The targets this benchmark was written for.
const TARGET_PER_SEC: f64 = 2_000.0;
const TARGET_P99: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Latency,
    Throughput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Queue {
    /// Batches committed one by one while no API process runs; then the API starts.
    Stopped,
    /// One transaction while the delivery worker runs: everything becomes due at its commit.
    OneTx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EndpointOrdering {
    None,
    PerStream,
}

impl EndpointOrdering {
    fn as_str(self) -> &'static str {
        match self {
            EndpointOrdering::None => "none",
            EndpointOrdering::PerStream => "per_stream",
        }
    }
}

/// Webhook delivery throughput and commit-to-receiver latency against a real `inlet-api`.
#[derive(Parser, Debug)]
#[command(name = "webhook-bench")]
struct Args {
    /// The `inlet-api` binary (default: target/release/inlet-api of this workspace).
    #[arg(long)]
    api_bin: Option<PathBuf>,
    /// What to measure, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "latency,throughput"
    )]
    phases: Vec<Phase>,
    /// Throughput: events queued per run.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Throughput: streams the events are spread over (round-robin), one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    streams: Vec<usize>,
    /// Throughput: `inlet_emit` calls per statement when queueing.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Throughput: how the events are queued.
    #[arg(long, value_enum, default_value = "stopped")]
    queue: Queue,
    /// Throughput: times the runs (one per --streams value) are repeated.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Latency: events per second, one per transaction.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Latency: seconds from the API's start reported on their own (cold start).
    #[arg(long, default_value_t = 30)]
    cold_secs: u64,
    /// Latency: seconds measured after the cold start.
    #[arg(long, default_value_t = 30)]
    steady_secs: u64,
    /// Latency: connections emitting events.
    #[arg(long, default_value_t = 8)]
    emitters: usize,
    /// Latency: streams the events go to (round-robin).
    #[arg(long, default_value_t = 10)]
    latency_streams: usize,
    /// The endpoint's `ordering`.
    #[arg(long, value_enum, default_value = "none")]
    ordering: EndpointOrdering,
    /// Run PostgreSQL with fsync and synchronous commit on. Default: off, as in the test suite.
    #[arg(long)]
    fsync: bool,
    /// More environment for the API, `NAME=VALUE` (repeatable), e.g.
    /// `INLET_WEBHOOK_CONCURRENCY=128`.
    #[arg(long = "api-env", value_parser = servers::parse_env)]
    api_env: Vec<(String, String)>,
    /// `RUST_LOG` of the API.
    #[arg(long, default_value = "warn")]
    api_log: String,
    /// Before each run, wait (up to 5 minutes) until the machine has been less than this busy, in
    /// percent, for a whole second.
    #[arg(long)]
    quiet_below: Option<f64>,
    /// A run fails when no delivery arrives for this long while some are missing, seconds.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
    /// Keep the temporary directory (the API's logs).
    #[arg(long)]
    keep_dir: bool,
    /// SQL run on the bench database before each run's API starts (repeatable), e.g. to try an
    /// index or `ANALYZE webhook_deliveries` without changing the migrations. Reported.
    #[arg(long = "sql-before-run")]
    sql_before_run: Vec<String>,
    /// Load pg_stat_statements and report, per run, the statements PostgreSQL spent the most time
    /// executing (restarts the cluster once before the run).
    #[arg(long)]
    pg_stats: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.events < 2 || args.batch == 0 || args.rounds == 0 || args.streams.contains(&0) {
        bail!("--events must be at least 2; --batch, --rounds and --streams must be positive");
    }
    if !(args.rate.is_finite() && args.rate > 0.0) || args.emitters == 0 {
        bail!("--rate and --emitters must be positive");
    }
    if args.latency_streams == 0 || args.cold_secs + args.steady_secs == 0 {
        bail!("--latency-streams and the latency windows must be positive");
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cpus)
        .thread_name("bench-main")
        .enable_all()
        .build()
        .context("could not build the bench's runtime")?;
    let receiver_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-receiver")
        .enable_all()
        .build()
        .context("could not build the receiver's runtime")?;

    let opts = pg::temp_options("inlet-webhook-bench-pg", args.fsync);
    let dir = opts.data_dir.with_extension("api");
    let mut cluster = pg::start(&opts)?;
    let mut outcome = Ok(String::new());
    if args.pg_stats {
        outcome = rt
            .block_on(pg::enable_pg_stat_statements(&mut cluster, &opts))
            .map(|()| String::new());
    }
    if outcome.is_ok() {
        outcome = rt.block_on(run(&args, &cluster, &dir, receiver_rt.handle(), cpus));
    }
    let stopped = cluster.stop();
    if args.keep_dir {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = outcome?;
    stopped.context("could not stop the private PostgreSQL")?;
    print!("{report}");
    Ok(())
}

/// What every run shares.
struct Bench<'a> {
    args: &'a Args,
    bin: PathBuf,
    dir: &'a Path,
    db_url: String,
    pg_dir: PathBuf,
    /// The bench's own connections (queueing, emitting).
    db: PgPool,
    receiver: Receiver,
    /// For pg_stat_statements, with `--pg-stats`.
    stats: Option<PgPool>,
    http: reqwest::Client,
    env: Vec<(String, String)>,
    tenant: String,
    streams: Vec<String>,
}

async fn run(
    args: &Args,
    cluster: &inlet_pgcluster::Cluster,
    dir: &Path,
    receiver_rt: &tokio::runtime::Handle,
    cpus: usize,
) -> anyhow::Result<String> {
    inlet_api::ensure_database(&cluster.url("postgres"), "bench")
        .await
        .context("could not create the bench database")?;
    let db_url = cluster.url("bench");
    let receiver = Receiver::start(receiver_rt).await?;
    let mut env = vec![(
        "INLET_WEBHOOK_ALLOW_PRIVATE".to_string(),
        "true".to_string(),
    )];
    env.extend(args.api_env.iter().cloned());
    let mut b = Bench {
        args,
        bin: args
            .api_bin
            .clone()
            .unwrap_or_else(|| servers::release_binary("inlet-api")),
        dir,
        db_url: db_url.clone(),
        pg_dir: cluster.data_dir().to_path_buf(),
        db: PgPoolOptions::new()
            .max_connections(args.emitters as u32 + 2)
            .connect(&db_url)
            .await
            .context("could not connect to the bench database")?,
        receiver,
        stats: if args.pg_stats {
            Some(pg::stats_pool(&db_url).await?)
        } else {
            None
        },
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        env,
        tenant: String::new(),
        streams: Vec::new(),
    };

    // Set-up over the public API: the tenant, its streams, then the endpoint (so that creating the
    // streams queues nothing).
    let api = b.start_api().await?;
    let n_streams = args
        .streams
        .iter()
        .copied()
        .chain([args.latency_streams])
        .max()
        .unwrap_or(1);
    eprintln!(
        "API on {}; creating a tenant and {n_streams} streams",
        api.api
    );
    let (token, streams) = create_streams(&b.http, &api.api, n_streams).await?;
    let webhook = create_webhook(
        &b.http,
        &api.api,
        &token,
        &b.receiver.url(),
        args.ordering.as_str(),
    )
    .await?;
    eprintln!("webhook {webhook} -> {}", b.receiver.url());
    b.streams = streams.into_iter().map(|(id, _)| id).collect();
    b.tenant = sqlx::query_scalar("SELECT tenant_id::text FROM streams WHERE id = $1::uuid")
        .bind(&b.streams[0])
        .fetch_one(&b.db)
        .await?;
    api.stop().await?;
    b.receiver.take();

    let pg_version = pg::server_version(&db_url).await?;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut latency = Vec::new();
    let mut throughput = Vec::new();
    for phase in &args.phases {
        match phase {
            Phase::Latency => latency.push(b.latency().await?),
            Phase::Throughput => {
                for round in 1..=args.rounds {
                    for &k in &args.streams {
                        throughput.push(b.throughput(round, k).await?);
                    }
                }
            }
        }
    }
    b.db.close().await;
    if let Some(db) = b.stats.take() {
        db.close().await;
    }
    Ok(render(
        args,
        &b.bin,
        cpus,
        &pg_version,
        load_before.trim(),
        &latency,
        &throughput,
    ))
}

/// Where the CPU went over a run, in CPU-seconds.
struct CpuUse {
    usage: cpu::Usage,
    api: f64,
}

impl CpuUse {
    fn receiver(&self) -> f64 {
        self.usage.threads_named("bench-receiver")
    }

    fn other(&self) -> f64 {
        (self.usage.machine_busy - self.usage.process() - self.usage.postgres - self.api).max(0.0)
    }

    fn busy_pct(&self) -> f64 {
        if self.usage.machine_total > 0.0 {
            100.0 * self.usage.machine_busy / self.usage.machine_total
        } else {
            0.0
        }
    }
}

/// CPU counters at the start of a run.
struct CpuMark {
    snap: cpu::Snapshot,
    api: f64,
}

/// How the deliveries of a run matched the events emitted.
#[derive(Default)]
struct Matched {
    /// Per emitted event (in emission order), its first arrival.
    first: Vec<Option<Instant>>,
    missing: usize,
    duplicates: usize,
    unknown: usize,
    body_bytes: usize,
}

fn match_arrivals(ids: &[String], arrivals: &[Arrival]) -> Matched {
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut m = Matched {
        first: vec![None; ids.len()],
        ..Matched::default()
    };
    for a in arrivals {
        m.body_bytes += a.body_bytes;
        match index.get(a.id.as_str()) {
            Some(&i) if m.first[i].is_none() => m.first[i] = Some(a.at),
            Some(_) => m.duplicates += 1,
            None => m.unknown += 1,
        }
    }
    m.missing = m.first.iter().filter(|f| f.is_none()).count();
    m
}

/// What every run ends with.
struct Finished {
    cpu: CpuUse,
    /// The API's `/metrics` at the end.
    metrics: Option<String>,
    matched: Matched,
    statements: Vec<pg::Statement>,
}

impl Finished {
    fn histogram(&self, name: &str) -> Option<Histogram> {
        prom::histogram(self.metrics.as_deref()?, name, &[])
    }
}

/// One throughput run.
struct ThroughputRun {
    round: usize,
    streams: usize,
    events: usize,
    /// Time to queue them (`inlet_emit` on the bench's connection).
    queue: Duration,
    /// From the API's spawn (`stopped`) or the commit (`one-tx`) to the first and last arrival.
    to_first: Duration,
    to_last: Duration,
    end: Finished,
}

impl ThroughputRun {
    fn first_to_last(&self) -> Duration {
        self.to_last.saturating_sub(self.to_first)
    }

    fn per_sec(&self) -> f64 {
        (self.events - 1) as f64 / self.first_to_last().as_secs_f64().max(1e-9)
    }
}

/// One latency window.
struct Window {
    name: &'static str,
    from_secs: u64,
    to_secs: u64,
    events: usize,
    /// Sorted arrival − commit.
    latency: Vec<Duration>,
    /// Deliveries that arrived before the emitting `COMMIT` had returned to the bench, and by how
    /// much at most.
    before_commit: usize,
    max_lead: Duration,
    /// Sorted BEGIN → COMMIT returned, for the emitter.
    commit_took: Vec<Duration>,
    late_starts: usize,
}

/// The latency run.
struct LatencyRun {
    windows: Vec<Window>,
    emitted_per_sec: f64,
    end: Finished,
}

/// One event emitted by the paced emitters.
struct Emitted {
    slot: Duration,
    id: String,
    committed: Instant,
    took: Duration,
    late: bool,
}

impl Bench<'_> {
    async fn start_api(&self) -> anyhow::Result<ApiServer> {
        let options = ServerOptions {
            bin: &self.bin,
            dir: self.dir,
            admin_token: ADMIN_TOKEN,
            log_filter: &self.args.api_log,
            env: &self.env,
        };
        ApiServer::start(&options, &self.db_url, NODE_SECRET).await
    }

    async fn before_run(&self) -> anyhow::Result<()> {
        for sql in &self.args.sql_before_run {
            pg::execute(&self.db_url, sql).await?;
        }
        self.quiet().await;
        self.reset_statements().await
    }

    async fn quiet(&self) {
        if let Some(limit) = self.args.quiet_below {
            cpu::wait_quiet(limit, QUIET_MAX_WAIT).await;
        }
    }

    fn mark(&self, api: &ApiServer) -> CpuMark {
        CpuMark {
            snap: cpu::snapshot(&self.pg_dir),
            api: servers::tree_cpu_secs(api.pid()),
        }
    }

    /// Resets pg_stat_statements (with `--pg-stats`).
    async fn reset_statements(&self) -> anyhow::Result<()> {
        match &self.stats {
            Some(db) => pg::reset_statements(db).await,
            None => Ok(()),
        }
    }

    /// Waits for the deliveries of `ids`, reads the CPU used since `mark`, the API's metrics and
    /// pg_stat_statements, stops the API, and matches what arrived (duplicates arriving meanwhile
    /// included).
    async fn finish(
        &self,
        api: ApiServer,
        mark: &CpuMark,
        ids: &[String],
    ) -> anyhow::Result<Finished> {
        let stall = Duration::from_secs(self.args.stall_secs);
        let waited = self.receiver.wait_for(ids.len(), stall).await;
        let cpu = CpuUse {
            usage: cpu::snapshot(&self.pg_dir).since(&mark.snap),
            api: servers::tree_cpu_secs(api.pid()) - mark.api,
        };
        let metrics = scrape(&self.http, &api.api).await.ok();
        let statements = match &self.stats {
            Some(db) => pg::statements(db).await?,
            None => Vec::new(),
        };
        api.stop().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let arrivals = self.receiver.take();
        waited?;
        Ok(Finished {
            cpu,
            metrics,
            matched: match_arrivals(ids, &arrivals),
            statements,
        })
    }

    /// Queues `n` events over the first `k` streams through `inlet_emit`, `--batch` per statement,
    /// each statement its own transaction or all in one; answers their ids in emission order.
    async fn queue(&self, n: usize, k: usize, one_tx: bool) -> anyhow::Result<Vec<String>> {
        const SQL: &str =
            "SELECT inlet_emit($1::uuid, $2, 'stream', s.id::text, s.id, NULL, '{}'::jsonb)
             FROM generate_series($3::int, $4::int) g
             CROSS JOIN LATERAL (SELECT ($5::text[])[1 + g % cardinality($5::text[])]::uuid AS id) s
             ORDER BY g";
        let streams = &self.streams[..k];
        let mut ids = Vec::with_capacity(n);
        let mut tx = if one_tx {
            Some(self.db.begin().await?)
        } else {
            None
        };
        let mut from = 0;
        while from < n {
            let to = (from + self.args.batch).min(n);
            let q = sqlx::query_scalar::<_, String>(SQL)
                .bind(&self.tenant)
                .bind(EVENT_TYPE)
                .bind(from as i32)
                .bind(to as i32 - 1)
                .bind(streams);
            let batch = match tx.as_mut() {
                Some(tx) => q.fetch_all(&mut **tx).await?,
                None => q.fetch_all(&self.db).await?,
            };
            ids.extend(batch);
            from = to;
        }
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        Ok(ids)
    }

    async fn throughput(&self, round: usize, k: usize) -> anyhow::Result<ThroughputRun> {
        let n = self.args.events;
        let k = k.min(self.streams.len());
        self.receiver.take();
        let (api, ids, queue, origin, mark) = match self.args.queue {
            Queue::Stopped => {
                eprintln!(
                    "throughput round {round}, {k} streams: queueing {n} events (no API running)"
                );
                let t = Instant::now();
                let ids = self.queue(n, k, false).await?;
                let queue = t.elapsed();
                self.before_run().await?;
                let origin = Instant::now();
                let api = self.start_api().await?;
                let mark = self.mark(&api);
                (api, ids, queue, origin, mark)
            }
            Queue::OneTx => {
                self.before_run().await?;
                let api = self.start_api().await?;
                let mark = self.mark(&api);
                eprintln!(
                    "throughput round {round}, {k} streams: queueing {n} events in one transaction"
                );
                let t = Instant::now();
                let ids = self.queue(n, k, true).await?;
                (api, ids, t.elapsed(), Instant::now(), mark)
            }
        };
        eprintln!("throughput round {round}, {k} streams: delivering");
        let end = self.finish(api, &mark, &ids).await?;
        let first = end.matched.first.iter().flatten().min().copied();
        let last = end.matched.first.iter().flatten().max().copied();
        let (Some(first), Some(last)) = (first, last) else {
            bail!("no delivery arrived");
        };
        Ok(ThroughputRun {
            round,
            streams: k,
            events: n,
            queue,
            to_first: first.saturating_duration_since(origin),
            to_last: last.saturating_duration_since(origin),
            end,
        })
    }

    async fn latency(&self) -> anyhow::Result<LatencyRun> {
        let a = self.args;
        let k = a.latency_streams.min(self.streams.len());
        let total_secs = a.cold_secs + a.steady_secs;
        let n = (a.rate * total_secs as f64).round() as usize;
        self.receiver.take();
        self.before_run().await?;
        // Connections are opened before the clock starts.
        let warm = open_connections(&self.db, a.emitters).await?;
        drop(warm);
        let api = self.start_api().await?;
        let mark = self.mark(&api);
        eprintln!(
            "latency: {n} events at {}/s over {k} streams ({} s cold start + {} s)",
            a.rate, a.cold_secs, a.steady_secs
        );
        let t0 = Instant::now();
        let emitted = self.emit_paced(t0, n, k).await?;
        let emit_elapsed = t0.elapsed();
        let ids: Vec<String> = emitted.iter().map(|e| e.id.clone()).collect();
        let end = self.finish(api, &mark, &ids).await?;
        let mut windows = vec![
            window("cold start", 0, a.cold_secs),
            window("steady", a.cold_secs, total_secs),
        ];
        for (e, at) in emitted.iter().zip(&end.matched.first) {
            let Some(w) = windows
                .iter_mut()
                .find(|w| e.slot < Duration::from_secs(w.to_secs))
            else {
                continue;
            };
            w.events += 1;
            w.commit_took.push(e.took);
            w.late_starts += usize::from(e.late);
            if let Some(at) = at {
                if *at < e.committed {
                    w.before_commit += 1;
                    w.max_lead = w.max_lead.max(e.committed - *at);
                }
                w.latency.push(at.saturating_duration_since(e.committed));
            }
        }
        for w in &mut windows {
            w.latency.sort_unstable();
            w.commit_took.sort_unstable();
        }
        windows.retain(|w| w.events > 0);
        Ok(LatencyRun {
            windows,
            emitted_per_sec: n as f64 / emit_elapsed.as_secs_f64(),
            end,
        })
    }

    /// Emits `n` events, one per transaction, event `i` at `t0 + i / rate` (open loop: a slow
    /// commit delays later events only when `--emitters` of them are in flight); answers them in
    /// emission order.
    async fn emit_paced(&self, t0: Instant, n: usize, k: usize) -> anyhow::Result<Vec<Emitted>> {
        let permits = Arc::new(Semaphore::new(self.args.emitters));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let slot = Duration::from_secs_f64(i as f64 / self.args.rate);
            tokio::time::sleep_until(t0 + slot).await;
            let permit = permits.clone().acquire_owned().await?;
            let late = Instant::now() > t0 + slot + LATE_START;
            let (db, tenant) = (self.db.clone(), self.tenant.clone());
            let stream = self.streams[i % k].clone();
            tasks.spawn(async move {
                let start = Instant::now();
                let mut tx = db.begin().await?;
                let id: String = sqlx::query_scalar(
                    "SELECT inlet_emit($1::uuid, $2, 'stream', $3, $3::uuid, NULL, '{}'::jsonb)",
                )
                .bind(&tenant)
                .bind(EVENT_TYPE)
                .bind(&stream)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                let committed = Instant::now();
                drop(permit);
                anyhow::Ok((
                    i,
                    Emitted {
                        slot,
                        id,
                        committed,
                        took: committed - start,
                        late,
                    },
                ))
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(joined) = tasks.join_next().await {
            all.push(joined.context("an emitter panicked")??);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, e)| e).collect())
    }
}

/// Opens `n` pooled connections (handed back to the pool when dropped).
async fn open_connections(
    db: &PgPool,
    n: usize,
) -> anyhow::Result<Vec<sqlx::pool::PoolConnection<sqlx::Postgres>>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(db.acquire().await?);
    }
    Ok(conns)
}

fn window(name: &'static str, from_secs: u64, to_secs: u64) -> Window {
    Window {
        name,
        from_secs,
        to_secs,
        events: 0,
        latency: Vec::new(),
        before_commit: 0,
        max_lead: Duration::ZERO,
        commit_took: Vec::new(),
        late_starts: 0,
    }
}

fn pct(sorted: &[Duration], q: f64) -> String {
    stats::percentile(sorted, q).map_or_else(|| "n/a".into(), ms)
}

/// A quantile of one of the API's histograms, in ms with its bucket.
fn api_quantile(h: Option<&Histogram>, q: f64) -> String {
    format!("{} ms", prom::quantile_ms(h, q))
}

fn render(
    args: &Args,
    bin: &Path,
    cpus: usize,
    pg_version: &str,
    load: &str,
    latency: &[LatencyRun],
    throughput: &[ThroughputRun],
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "## webhook-bench\n");
    let _ = writeln!(
        s,
        "- Machine: {cpus} CPUs ({}); load average before the run: {load}",
        cpu::model()
    );
    let extra: Vec<String> = args
        .api_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        s,
        "- `{}` as a child process (RUST_LOG={}, INLET_WEBHOOK_ALLOW_PRIVATE=true{}{}); PostgreSQL \
         {pg_version}, private cluster, fsync {}; receiver: HTTP/1.1 on 127.0.0.1 in the bench, \
         answers 204 at once; endpoint ordering `{}`, every event type; events `{EVENT_TYPE}` \
         written with `inlet_emit` on the database",
        bin.display(),
        args.api_log,
        if extra.is_empty() { "" } else { ", " },
        extra.join(", "),
        if args.fsync { "on" } else { "off" },
        args.ordering.as_str(),
    );
    for sql in &args.sql_before_run {
        let _ = writeln!(s, "- Before each run: `{sql}`");
    }

    for l in latency {
        let _ = writeln!(
            s,
            "\n### Event commit → receiver latency\n\n{} events/s requested ({:.1}/s achieved), one \
             event per transaction from {} connections over {} streams, starting right after the \
             API's start. Latency: arrival at the receiver − return of the emitting `COMMIT`, in \
             ms, nearest-rank.\n",
            args.rate, l.emitted_per_sec, args.emitters, args.latency_streams
        );
        let _ = writeln!(
            s,
            "| window | events | p50 | p95 | p99 | max | arrived before COMMIT returned (by at most) | emit BEGIN→COMMIT p50 / p99 | late emits | p99 ≤ {} ms |",
            TARGET_P99.as_millis()
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for w in &l.windows {
            let verdict = match stats::percentile(&w.latency, 0.99) {
                Some(p) if p <= TARGET_P99 => "met",
                Some(_) => "**not met**",
                None => "n/a",
            };
            let mut cells = vec![
                format!("{} ({}–{} s)", w.name, w.from_secs, w.to_secs),
                w.events.to_string(),
            ];
            cells.extend([0.50, 0.95, 0.99, 1.0].map(|q| pct(&w.latency, q)));
            cells.extend([
                format!("{} (≤ {} ms)", w.before_commit, ms(w.max_lead)),
                format!(
                    "{} / {}",
                    pct(&w.commit_took, 0.5),
                    pct(&w.commit_took, 0.99)
                ),
                w.late_starts.to_string(),
                verdict.to_string(),
            ]);
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        let (end, lag) = (&l.end, l.end.histogram(LAG_HISTOGRAM));
        let _ = writeln!(
            s,
            "\nThe API's own view over the whole run: `{LAG_HISTOGRAM}` p50 {}, p99 {}, share ≤ 250 ms \
             {}; attempt duration p99 {}. Deliveries: {} missing, {} duplicates, {} unknown; mean \
             body {:.0} bytes. CPU-seconds: API {:.2}, PostgreSQL {:.2}, receiver {:.2}, bench \
             total {:.2}, other {:.2}; machine {:.0} % busy.",
            api_quantile(lag.as_ref(), 0.5),
            api_quantile(lag.as_ref(), 0.99),
            lag.as_ref()
                .and_then(|h| h.share_at_or_below(0.25))
                .map_or_else(|| "n/a".into(), |x| format!("{:.2} %", x * 100.0)),
            api_quantile(end.histogram(ATTEMPT_HISTOGRAM).as_ref(), 0.99),
            end.matched.missing,
            end.matched.duplicates,
            end.matched.unknown,
            end.matched.body_bytes as f64 / end.matched.first.len().max(1) as f64,
            end.cpu.api,
            end.cpu.usage.postgres,
            end.cpu.receiver(),
            end.cpu.usage.process(),
            end.cpu.other(),
            end.cpu.busy_pct(),
        );
        statements_section(
            &mut s,
            "the latency run",
            end,
            l.windows.iter().map(|w| w.events).sum(),
        );
    }

    if !throughput.is_empty() {
        let origin = match args.queue {
            Queue::Stopped => {
                "queued with no API process running (each batch of `inlet_emit` calls its own \
                 transaction), then the API started; \"start → first/last\" counts from its spawn"
            }
            Queue::OneTx => {
                "queued in one transaction while the delivery worker ran; \"start → first/last\" \
                 counts from the return of its COMMIT"
            }
        };
        let _ = writeln!(
            s,
            "\n### Deliveries per second\n\n{} events per run, {origin}. Rate: (events − 1) / (last \
             arrival − first arrival). CPU in CPU-seconds from the API's start to the last arrival; \
             µs per delivery.\n",
            args.events
        );
        let _ = writeln!(
            s,
            "| round | streams | queue s | start → first s | start → last s | first → last s | deliveries/s | ≥ {TARGET_PER_SEC:.0}/s | API CPU | PostgreSQL CPU | receiver CPU | other | machine busy | API µs/delivery | PostgreSQL µs/delivery | attempt p99 | missing / dup / unknown |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for t in throughput {
            let n = t.events as f64;
            let rate = t.per_sec();
            let (cpu, matched) = (&t.end.cpu, &t.end.matched);
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.0}** | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} % | {:.0} | {:.0} | {} | {} / {} / {} |",
                t.round,
                t.streams,
                t.queue.as_secs_f64(),
                t.to_first.as_secs_f64(),
                t.to_last.as_secs_f64(),
                t.first_to_last().as_secs_f64(),
                rate,
                if rate >= TARGET_PER_SEC {
                    "met"
                } else {
                    "**not met**"
                },
                cpu.api,
                cpu.usage.postgres,
                cpu.receiver(),
                cpu.other(),
                cpu.busy_pct(),
                cpu.api / n * 1e6,
                cpu.usage.postgres / n * 1e6,
                api_quantile(t.end.histogram(ATTEMPT_HISTOGRAM).as_ref(), 0.99),
                matched.missing,
                matched.duplicates,
                matched.unknown,
            );
        }
        for t in throughput {
            let what = format!("throughput round {}, {} streams", t.round, t.streams);
            statements_section(&mut s, &what, &t.end, t.events);
        }
    }
    s
}

/// The pg_stat_statements table of a run, when there is one.
fn statements_section(s: &mut String, what: &str, end: &Finished, events: usize) {
    use std::fmt::Write;
    if end.statements.is_empty() {
        return;
    }
    let total: f64 = end.statements.iter().map(|st| st.total_ms).sum();
    let _ = writeln!(
        s,
        "\npg_stat_statements, {what} (top-level statements, execution inside PostgreSQL only; \
         {:.0} µs per event in these):\n",
        total * 1e3 / events.max(1) as f64
    );
    pg::statements_table(s, &end.statements, 110);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_match_by_id_once() {
        let ids = vec!["evt_a".to_string(), "evt_b".into(), "evt_c".into()];
        let t = Instant::now();
        let arrival = |id: &str, ms: u64| Arrival {
            id: id.into(),
            at: t + Duration::from_millis(ms),
            body_bytes: 10,
        };
        let arrivals = vec![
            arrival("evt_b", 1),
            arrival("evt_a", 2),
            arrival("evt_b", 3),
            arrival("evt_x", 4),
        ];
        let m = match_arrivals(&ids, &arrivals);
        assert_eq!(m.first[0], Some(t + Duration::from_millis(2)));
        assert_eq!(m.first[1], Some(t + Duration::from_millis(1)));
        assert_eq!(m.first[2], None);
        assert_eq!((m.missing, m.duplicates, m.unknown), (1, 1, 1));
        assert_eq!(m.body_bytes, 40);
    }

    #[test]
    fn rate_counts_intervals_between_first_and_last() {
        let run = ThroughputRun {
            round: 1,
            streams: 1,
            events: 2_001,
            queue: Duration::ZERO,
            to_first: Duration::from_millis(500),
            to_last: Duration::from_millis(1_500),
            end: Finished {
                cpu: CpuUse {
                    usage: cpu::Usage::default(),
                    api: 0.0,
                },
                metrics: None,
                matched: Matched::default(),
                statements: Vec::new(),
            },
        };
        assert!((run.per_sec() - 2_000.0).abs() < 1e-6);
    }
}
