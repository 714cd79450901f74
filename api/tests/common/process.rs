//! The real `inlet-api` binary as a child process, for fault tests: started with an explicit
//! environment (nothing inherited but `PATH`), its output in a log file (printed when the test
//! panics), ready once `/healthz` answers, killed with SIGKILL on request and on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The environment of one `inlet-api` process.
#[derive(Debug, Clone)]
pub struct ApiEnv {
    vars: Vec<(String, String)>,
}

impl ApiEnv {
    /// What every test process needs: the database, the secret key (fixed, so that a restarted
    /// process unseals what the first one sealed), the operator token, no rate limits worth the
    /// name, deliveries to 127.0.0.1 allowed.
    pub fn new(database_url: &str, secret_key: &str, admin_token: &str) -> ApiEnv {
        ApiEnv { vars: Vec::new() }
            .set("DATABASE_URL", database_url)
            .set("INLET_SECRET_KEY", secret_key)
            .set("INLET_ADMIN_TOKEN", admin_token)
            .set("INLET_NODE_SECRET", super::NODE_SECRET)
            .set("INLET_RATE_LIMIT_PER_TOKEN", "100000")
            .set("INLET_RATE_LIMIT_PER_TENANT", "100000")
            .set("INLET_RATE_LIMIT_PER_IP", "100000")
            .set("INLET_WEBHOOK_ALLOW_PRIVATE", "true")
            .set("RUST_LOG", "info")
    }

    /// Sets (or replaces) one variable.
    pub fn set(mut self, name: &str, value: &str) -> ApiEnv {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_string(), value.to_string()));
        self
    }
}

/// A running `inlet-api`.
pub struct ApiProcess {
    child: Child,
    pub name: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    log: PathBuf,
}

impl ApiProcess {
    /// Starts `inlet-api` listening on 127.0.0.1:`port` and waits (up to 60 s) until `/healthz`
    /// answers 200; panics with its log when it exits or never answers.
    pub async fn start(name: &str, port: u16, env: &ApiEnv) -> ApiProcess {
        let log = std::env::temp_dir().join(format!(
            "inlet-api-{}-{}-{}-{}.log",
            std::process::id(),
            name,
            port,
            rand::random::<u32>()
        ));
        let out = std::fs::File::create(&log).expect("create process log");
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet-api"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("INLET_API_LISTEN", format!("127.0.0.1:{port}"));
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn inlet-api");
        let mut p = ApiProcess {
            child,
            name: name.to_string(),
            port,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        p.wait_healthy(Duration::from_secs(60)).await;
        p
    }

    async fn wait_healthy(&mut self, within: Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "inlet-api {} exited ({status}) before it answered /healthz; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "inlet-api {} did not answer /healthz within {within:?}; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (no graceful shutdown, nothing drained), then waits until it is gone.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL inlet-api");
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("inlet-api gone within 10 s of SIGKILL")
            .expect("wait for inlet-api");
        assert!(!status.success(), "a killed process does not exit 0");
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of the samples of `name` whose labels contain `labels` (e.g. `result="succeeded"`)
    /// in `/metrics`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        metric_sum(&text, name, labels)
    }
}

/// The sum of the samples of `name` (exactly that name, with labels or without) whose label set
/// contains `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = if rest.is_empty() {
                labels.is_empty()
            } else {
                rest.starts_with('{') && rest.contains(labels)
            };
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(80)..].join("\n");
            eprintln!(
                "--- inlet-api {} (port {}), last lines of {} ---\n{tail}\n--- end ---",
                self.name,
                self.port,
                self.log.display()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
