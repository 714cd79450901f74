//! `rtmp-load`: N concurrent RTMP publishers against one server, for a fixed duration.
//!
//! Each publisher does the client handshake, `connect`, `createStream` and `publish`, records the
//! time from the start of its TCP connect to `NetStream.Publish.Start`, then sends a pre-encoded FLV
//! (looped, timestamps growing across loops) paced in real time. At the end it prints the accept
//! latency, the rate achieved and its own CPU, so that its cost can be subtracted when the server
//! under test shares the machine. `ingest-bench` drives the same code against Inlet and nginx-rtmp;
//! this binary is for one server started by hand (e.g. under `perf`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use inlet_bench::flv::{self, Source};
use inlet_bench::publisher::{ClientStyle, Load, LoadSpec, Target};
use inlet_bench::stats::{self, ms};
use tokio::time::Instant;

/// Concurrent RTMP publishers paced in real time.
#[derive(Parser, Debug)]
#[command(name = "rtmp-load")]
struct Args {
    /// Server address, e.g. 127.0.0.1:1935.
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "live")]
    app: String,
    /// Publishers.
    #[arg(short = 'n', long, default_value_t = 100)]
    publishers: usize,
    /// A file of publish names (stream keys), one a line, used round-robin. Default: `bench-<i>`.
    #[arg(long)]
    names: Option<PathBuf>,
    /// Seconds of streaming after the last publisher was accepted.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Publisher connects started per second.
    #[arg(long, default_value_t = 50.0)]
    connect_rate: f64,
    /// A pre-encoded FLV (default: a 10 s 720p30 ~3 Mb/s source encoded with ffmpeg).
    #[arg(long)]
    source: Option<PathBuf>,
    #[arg(long, default_value_t = 4096)]
    chunk_size: u32,
    /// One write per publisher every this many ms.
    #[arg(long, default_value_t = 33)]
    tick_ms: u64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// How publishers write their handshake and commands.
    #[arg(long, value_enum, default_value = "nodelay")]
    client_style: ClientStyle,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.publishers == 0 || args.threads == 0 || args.tick_ms == 0 || args.connect_rate <= 0.0 {
        bail!("--publishers, --threads, --tick-ms and --connect-rate must be positive");
    }
    let names: Vec<String> = match &args.names {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("could not read {}", p.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        None => (0..args.publishers).map(|i| format!("bench-{i}")).collect(),
    };
    if names.is_empty() {
        bail!("no publish names");
    }
    let source_path = match &args.source {
        Some(p) => p.clone(),
        None => {
            let p = std::env::temp_dir().join(format!("rtmp-load-{}.flv", std::process::id()));
            flv::encode_test_source(&p, 10, 2900)?;
            p
        }
    };
    let source = Source::load(&source_path, args.chunk_size as usize);
    if args.source.is_none() {
        let _ = std::fs::remove_file(&source_path);
    }
    let source = Arc::new(source?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .thread_name("rtmp-load")
        .enable_all()
        .build()?;
    rt.block_on(run(&args, names, source))
}

/// CPU-seconds this process used so far.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

async fn run(args: &Args, names: Vec<String>, source: Arc<Source>) -> anyhow::Result<()> {
    let n = args.publishers;
    eprintln!(
        "{n} publishers to {} (source {:.0} kb/s on the wire)",
        args.addr,
        source.wire_bps() / 1e3
    );
    let load = Load::start(
        LoadSpec {
            target: Target {
                addr: args.addr,
                app: args.app.clone(),
                chunk_size: args.chunk_size,
                style: args.client_style,
            },
            names: (0..n).map(|i| names[i % names.len()].clone()).collect(),
            connect_rate: args.connect_rate,
            stream: true,
            tick: Duration::from_millis(args.tick_ms),
        },
        source.clone(),
    );
    let live = load
        .wait_settled(
            Duration::from_secs_f64(n as f64 / args.connect_rate) + Duration::from_secs(30),
        )
        .await;
    eprintln!("{live} live; streaming for {} s", args.duration);
    let (cpu0, b0, t0) = (
        own_cpu(),
        load.state.bytes.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let (cpu1, b1, elapsed) = (
        own_cpu(),
        load.state.bytes.load(Ordering::Relaxed),
        t0.elapsed(),
    );
    let live_end = load.state.live.load(Ordering::Relaxed);
    let state = load.stop().await;

    let mut accept: Vec<Duration> = state.accepted().iter().map(|p| p.publish).collect();
    let failures = state.failures();
    println!(
        "publishers: {n}, accepted: {}, live at the end: {live_end}",
        accept.len()
    );
    if let Some(s) = stats::summarize(&mut accept) {
        println!(
            "accept latency ms: p50 {} p90 {} p99 {} max {}",
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max)
        );
    }
    let mbps = (b1 - b0) as f64 * 8.0 / elapsed.as_secs_f64() / 1e6;
    println!(
        "sent {:.0} Mb/s over {:.1} s ({:.0} % of the {:.0} Mb/s offered); generator CPU {:.2} s ({:.2} cores)",
        mbps,
        elapsed.as_secs_f64(),
        100.0 * mbps / (source.wire_bps() * n as f64 / 1e6),
        source.wire_bps() * n as f64 / 1e6,
        cpu1 - cpu0,
        (cpu1 - cpu0) / elapsed.as_secs_f64()
    );
    if let Some(f) = failures.first() {
        println!("{} failures, first: {f}", failures.len());
    }
    Ok(())
}
