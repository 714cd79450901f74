//! The servers under test, each run as a separate process so that its CPU can be read from
//! `/proc`: the all-in-one `inlet` binary (API, ingest and a private PostgreSQL), the control plane
//! alone (`inlet-api`, on a database the benchmark gives it) and nginx with Debian's
//! `libnginx-mod-rtmp`. All are started on free loopback ports under a temporary directory and
//! stopped by their process id.

use std::collections::HashMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// nginx-rtmp's module as Debian installs it.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// (ppid, utime + stime) of one process (all its threads) from `/proc/<pid>/stat`.
fn stat_of(stat: &str) -> Option<(u32, u64)> {
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU-seconds used so far by `root` and all its descendants (threads included; descendants that
/// already exited are not counted).
pub fn tree_cpu_secs(root: u32) -> f64 {
    let mut procs: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for p in dir.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(p.path().join("stat"))
                && let Some(v) = stat_of(&stat)
            {
                procs.insert(pid, v);
            }
        }
    }
    let mut total = 0u64;
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        if let Some((_, ticks)) = procs.get(&pid) {
            total += ticks;
        }
        frontier.extend(
            procs
                .iter()
                .filter(|(_, (ppid, _))| *ppid == pid)
                .map(|(child, _)| *child),
        );
    }
    total as f64 / TICKS_PER_SEC
}

/// Context switches (voluntary and not) so far of every thread of `root` and its direct children.
pub fn tree_context_switches(root: u32) -> u64 {
    let mut pids = vec![root];
    if let Ok(dir) = fs::read_dir("/proc") {
        for p in dir.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(p.path().join("stat"))
                && stat_of(&stat).is_some_and(|(ppid, _)| ppid == root)
            {
                pids.push(pid);
            }
        }
    }
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            if let Ok(status) = fs::read_to_string(t.path().join("status")) {
                total += context_switches(&status);
            }
        }
    }
    total
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of a `/proc/.../status`.
fn context_switches(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// `VmRSS` of a `/proc/<pid>/status`, KiB.
fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident memory of `pid`, KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| vm_rss_kib(&s))
        .unwrap_or(0)
}

/// Resident memory of `root` and its direct children (nginx's master and workers), KiB.
pub fn rss_with_children_kib(root: u32) -> u64 {
    let mut total = rss_kib(root);
    if let Ok(dir) = fs::read_dir("/proc") {
        for p in dir.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(p.path().join("stat"))
                && stat_of(&stat).is_some_and(|(ppid, _)| ppid == root)
            {
                total += rss_kib(pid);
            }
        }
    }
    total
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("could not find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Sends `signal` to a process we started.
fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid of a child we spawned and still own; no memory is involved.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Asks a child to stop with `sig`, waits up to `grace`, then kills it.
async fn stop_child(child: &mut Child, sig: libc::c_int, grace: Duration) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    signal(child.id(), sig);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill()?;
    child.wait()?;
    bail!(
        "process {} did not stop within {grace:?}; killed",
        child.id()
    )
}

/// Waits until `addr` accepts TCP connections, or the child exits, or `limit` passes.
async fn wait_listening(
    child: &mut Child,
    addr: SocketAddr,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up ({status})");
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("nothing listens on {addr} after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The all-in-one `inlet` as a child process.
pub struct InletServer {
    child: Child,
    pub api: String,
    pub rtmp: SocketAddr,
    /// The ingest's `/metrics`.
    pub metrics_url: String,
    /// Data directory of its private PostgreSQL (for `cpu::snapshot`).
    pub pg_dir: PathBuf,
    pub log: PathBuf,
}

/// How to start `inlet` or `inlet-api`.
pub struct ServerOptions<'a> {
    pub bin: &'a Path,
    /// Created if missing; holds the log (and `inlet`'s data dir).
    pub dir: &'a Path,
    pub admin_token: &'a str,
    /// `RUST_LOG` of the server.
    pub log_filter: &'a str,
    /// More environment (overrides the defaults set here).
    pub env: &'a [(String, String)],
}

impl InletServer {
    pub async fn start(o: &ServerOptions<'_>) -> anyhow::Result<InletServer> {
        require_binary(o.bin, "inlet")?;
        let data = o.dir.join("data");
        fs::create_dir_all(&data)?;
        let (api_port, rtmp_port, rtmps_port, hls_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let log = o.dir.join("inlet.log");
        let mut cmd = Command::new(o.bin);
        cmd.current_dir(o.dir)
            .env("RUST_LOG", o.log_filter)
            .env("INLET_DATA_DIR", &data)
            .env("INLET_API_LISTEN", format!("127.0.0.1:{api_port}"))
            .env("INLET_RTMP_LISTEN", format!("127.0.0.1:{rtmp_port}"))
            .env("INLET_RTMPS_LISTEN", format!("127.0.0.1:{rtmps_port}"))
            .env("INLET_HLS_LISTEN", format!("127.0.0.1:{hls_port}"))
            .env(
                "INLET_HLS_PUBLIC_URL",
                format!("http://127.0.0.1:{hls_port}"),
            )
            // The discarding sink: no HLS packaging (nginx-rtmp runs with HLS off too).
            .env("INLET_HLS_ENABLED", "false")
            // All the load comes from 127.0.0.1.
            .env("INLET_RTMP_MAX_CONNECTIONS_PER_IP", "100000")
            .env("INLET_RTMP_MAX_CONNECTIONS", "100000");
        api_env(&mut cmd, o.admin_token);
        let api = format!("http://127.0.0.1:{api_port}");
        let rtmp = SocketAddr::from((Ipv4Addr::LOCALHOST, rtmp_port));
        // The API listens last (after the private cluster, migrations and the ingest's listeners).
        let api_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, api_port));
        let child = spawn_listening(cmd, o.env, &log, api_addr, "inlet").await?;
        Ok(InletServer {
            child,
            api,
            rtmp,
            metrics_url: format!("http://127.0.0.1:{hls_port}/metrics"),
            pg_dir: data.join("postgres"),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (inlet then stops its private PostgreSQL), up to 60 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(60)).await
    }
}

/// A `NAME=VALUE` command-line argument (more environment for a server).
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

/// `target/release/<name>` of this workspace.
pub fn release_binary(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name)
}

fn require_binary(bin: &Path, name: &str) -> anyhow::Result<()> {
    if !bin.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release --bin {name}`",
            bin.display()
        );
    }
    Ok(())
}

/// The control plane's settings every benchmark gives it: the operator token, the dashboard's
/// files, and rate limits out of the way (all the load comes from 127.0.0.1).
fn api_env(cmd: &mut Command, admin_token: &str) {
    cmd.env("INLET_ADMIN_TOKEN", admin_token)
        .env(
            "INLET_WEB_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"),
        )
        .env("INLET_RATE_LIMIT_PER_TOKEN", "1000000")
        .env("INLET_RATE_LIMIT_PER_TENANT", "1000000")
        .env("INLET_RATE_LIMIT_PER_IP", "1000000");
}

/// Spawns `cmd` with `env` added (overriding what is set), stdout and stderr into `log`, and waits
/// until it listens on `addr`; on failure the log's text is in the error.
async fn spawn_listening(
    mut cmd: Command,
    env: &[(String, String)],
    log: &Path,
    addr: SocketAddr,
    what: &str,
) -> anyhow::Result<Child> {
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = fs::File::create(log)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("could not start {what}"))?;
    if let Err(e) = wait_listening(&mut child, addr, Duration::from_secs(180)).await {
        let _ = child.kill();
        let _ = child.wait();
        let tail = fs::read_to_string(log).unwrap_or_default();
        bail!("{what} did not start: {e}\n{tail}");
    }
    Ok(child)
}

/// The control plane alone (`inlet-api`) as a child process, on a database the benchmark gives it.
pub struct ApiServer {
    child: Child,
    pub addr: SocketAddr,
    pub api: String,
    pub log: PathBuf,
}

impl ApiServer {
    /// Starts it on a free loopback port with `database_url` and the ingest nodes' `node_secret`;
    /// returns once it listens (after its migrations).
    pub async fn start(
        o: &ServerOptions<'_>,
        database_url: &str,
        node_secret: &str,
    ) -> anyhow::Result<ApiServer> {
        require_binary(o.bin, "inlet-api")?;
        fs::create_dir_all(o.dir)?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = o.dir.join(format!("inlet-api-{port}.log"));
        let mut cmd = Command::new(o.bin);
        cmd.current_dir(o.dir)
            .env("RUST_LOG", o.log_filter)
            .env("DATABASE_URL", database_url)
            .env("INLET_API_LISTEN", addr.to_string())
            .env("INLET_NODE_SECRET", node_secret)
            .env(
                "INLET_SECRET_KEY",
                "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            );
        api_env(&mut cmd, o.admin_token);
        let child = spawn_listening(cmd, o.env, &log, addr, "inlet-api").await?;
        Ok(ApiServer {
            child,
            addr,
            api: format!("http://{addr}"),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (it drains its workers), up to 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        stop_child(&mut self.child, libc::SIGTERM, Duration::from_secs(30)).await
    }
}

/// nginx with the RTMP module as a child process (master + workers).
pub struct NginxServer {
    child: Child,
    pub rtmp: SocketAddr,
    pub conf: PathBuf,
}

/// The nginx configuration used: live application, recording off, no authorization, the same
/// chunk size as the load generator, logs at `warn` with the RTMP access log off. HLS is off, or
/// with `hls` on into that directory with 2 s fragments and a 12 s playlist (Inlet's defaults:
/// 2000 ms fragments, a window of 6).
pub fn nginx_conf(
    prefix: &Path,
    port: u16,
    workers: usize,
    chunk_size: u32,
    hls: Option<&Path>,
) -> String {
    let p = prefix.display();
    let hls = hls.map_or_else(String::new, |dir| {
        format!(
            "\x20           hls on;\n\
             \x20           hls_path {};\n\
             \x20           hls_fragment 2s;\n\
             \x20           hls_playlist_length 12s;\n",
            dir.display()
        )
    });
    format!(
        "load_module {NGINX_RTMP_MODULE};\n\
         daemon off;\n\
         master_process on;\n\
         worker_processes {workers};\n\
         worker_rlimit_nofile 8192;\n\
         user root;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/error.log warn;\n\
         events {{\n    worker_connections 4096;\n}}\n\
         rtmp {{\n\
         \x20   access_log off;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       chunk_size {chunk_size};\n\
         \x20       application live {{\n\
         \x20           live on;\n\
         \x20           record off;\n\
         {hls}\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

impl NginxServer {
    /// Starts nginx under `dir`/nginx; with `hls`, packaging HLS into that directory.
    pub async fn start(
        dir: &Path,
        workers: usize,
        chunk_size: u32,
        hls: Option<&Path>,
    ) -> anyhow::Result<NginxServer> {
        if !Path::new(NGINX_RTMP_MODULE).exists() {
            bail!("{NGINX_RTMP_MODULE} is missing: apt-get install nginx libnginx-mod-rtmp");
        }
        let prefix = dir.join("nginx");
        fs::create_dir_all(prefix.join("logs"))?;
        let port = free_port()?;
        let conf = prefix.join("nginx.conf");
        if let Some(h) = hls {
            fs::create_dir_all(h)?;
        }
        fs::write(&conf, nginx_conf(&prefix, port, workers, chunk_size, hls))?;
        let out = fs::File::create(prefix.join("stdout.log"))?;
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("could not start nginx")?;
        let rtmp = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if let Err(e) = wait_listening(&mut child, rtmp, Duration::from_secs(20)).await {
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            bail!("nginx did not start: {e}\n{log}");
        }
        Ok(NginxServer { child, rtmp, conf })
    }

    /// The master's pid (workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGQUIT (graceful), up to 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        stop_child(&mut self.child, libc::SIGQUIT, Duration::from_secs(10)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_comm() {
        let line =
            "77 (nginx: worker (x)) S 70 70 70 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0 1 1 1";
        assert_eq!(stat_of(line), Some((70, 280)));
    }

    #[test]
    fn context_switches_add_both_kinds() {
        let status =
            "Name:\tnginx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(context_switches(status), 127);
    }

    #[test]
    fn a_missing_process_used_nothing() {
        assert_eq!(tree_cpu_secs(u32::MAX), 0.0);
    }

    #[test]
    fn nginx_conf_has_no_hls_and_the_chunk_size() {
        let c = nginx_conf(Path::new("/tmp/p"), 19350, 2, 4096, None);
        assert!(c.contains("listen 127.0.0.1:19350;"));
        assert!(c.contains("chunk_size 4096;"));
        assert!(c.contains("worker_processes 2;"));
        assert!(!c.contains("hls"));
    }

    #[test]
    fn nginx_conf_with_hls_in_the_application() {
        let c = nginx_conf(
            Path::new("/tmp/p"),
            19350,
            2,
            4096,
            Some(Path::new("/tmp/p/hls")),
        );
        let app = &c[c.find("application live").unwrap()..];
        assert!(app.contains("hls on;\n"));
        assert!(app.contains("hls_path /tmp/p/hls;\n"));
        assert!(app.contains("hls_fragment 2s;\n"));
        assert!(app.contains("hls_playlist_length 12s;\n"));
    }

    #[test]
    fn vm_rss_in_kib() {
        let status = "Name:\tnginx\nVmHWM:\t  9000 kB\nVmRSS:\t  8120 kB\n";
        assert_eq!(vm_rss_kib(status), Some(8120));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
    }
}
