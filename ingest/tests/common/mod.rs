//! Test harness of the ingest: a real API over a fresh PostgreSQL database and an in-process ingest
//! (RTMP and RTMPS on ephemeral ports) whose sessions record their frames, plus helpers to create a
//! tenant and a stream and to run encoders.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inlet_contract::publish::Allow;
use inlet_ingest::IngestConfig;
use inlet_ingest::media::{CountingSink, MediaFrame, MediaSink};
use inlet_ingest::server::{HlsSinks, Ingest, SinkContext, SinkFactory};
use inlet_testsupport::TestDb;
use serde_json::{Value, json};
use tokio::sync::watch;

pub const NODE_SECRET: &str = "ingest-test-node-secret";

/// Sessions the ingest opened, shared with the test.
#[derive(Default)]
pub struct RecordingSinks {
    pub sessions: Mutex<Vec<Arc<Mutex<CountingSink>>>>,
}

struct Recording(Arc<Mutex<CountingSink>>);

impl MediaSink for Recording {
    fn frame(&mut self, f: MediaFrame) {
        self.0.lock().expect("sink").frame(f);
    }

    fn end(&mut self, reason: &str) {
        self.0.lock().expect("sink").end(reason);
    }
}

impl SinkFactory for RecordingSinks {
    fn open(&self, _allow: &Allow, _ctx: &SinkContext<'_>) -> Box<dyn MediaSink> {
        let s = Arc::new(Mutex::new(CountingSink::default()));
        self.sessions.lock().expect("sessions").push(s.clone());
        Box::new(Recording(s))
    }
}

impl RecordingSinks {
    /// Snapshots of every session so far.
    pub fn snapshot(&self) -> Vec<CountingSink> {
        self.sessions
            .lock()
            .expect("sessions")
            .iter()
            .map(|s| s.lock().expect("sink").clone())
            .collect()
    }
}

pub struct Stack {
    pub api: String,
    pub db: sqlx::PgPool,
    pub admin_token: String,
    pub rtmp: SocketAddr,
    pub rtmps: SocketAddr,
    pub sinks: Arc<RecordingSinks>,
    pub metrics: Arc<inlet_ingest::server::metrics::IngestMetrics>,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    pub tls_dir: tempdir::Dir,
    /// HLS directory and origin base URL (`http://host:port`), for stacks started with HLS.
    pub hls: Option<(tempdir::Dir, String)>,
}

/// A temporary directory removed on drop.
pub mod tempdir {
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "inlet-{tag}-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }

    fn rand_suffix() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        h.finish()
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A tenant with one stream, calling the API with its token.
pub struct Owner<'a> {
    pub stack: &'a Stack,
    pub token: String,
    pub stream: String,
    pub key: String,
}

impl Owner<'_> {
    pub async fn new(stack: &Stack) -> Owner<'_> {
        let (token, stream, key) = stack.stream().await;
        Owner {
            stack,
            token,
            stream,
            key,
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .stack
            .http
            .request(method, format!("{}{path}", self.stack.api))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/streams/{id}`.
    pub async fn get_stream(&self) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/streams/{}", self.stream),
            None,
        )
        .await
        .1
    }

    /// `PATCH /v1/streams/{id}` with `body`, asserting 200.
    pub async fn patch(&self, body: Value) {
        let (status, v) = self
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/streams/{}", self.stream),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// The stream's sessions, newest first (`GET /v1/streams/{id}/sessions`).
    pub async fn sessions(&self) -> Vec<Value> {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/streams/{}/sessions", self.stream),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["data"].as_array().cloned().unwrap_or_default()
    }

    pub async fn stream_status(&self) -> String {
        let (_, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/streams/{}", self.stream),
                None,
            )
            .await;
        v["status"].as_str().unwrap_or("").to_string()
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut IngestConfig)) -> Stack {
        Self::start_inner(configure, false).await
    }

    /// A stack whose ingest packages HLS into a temporary directory and serves it over HTTP.
    pub async fn start_hls(configure: impl FnOnce(&mut IngestConfig)) -> Stack {
        Self::start_inner(configure, true).await
    }

    async fn start_inner(configure: impl FnOnce(&mut IngestConfig), with_hls: bool) -> Stack {
        let tdb = TestDb::new().await;
        let db = inlet_api::connect(&tdb.url, 10, Duration::from_secs(10))
            .await
            .expect("migrate");
        let mut api_config = inlet_api::ApiConfig::defaults();
        api_config.database_url = Some(tdb.url.clone());
        api_config.admin_token = Some(format!("operator-{}", tdb.name));
        api_config.node_secret = Some(NODE_SECRET.into());
        api_config.secret_key = Some(format!("secret-{}", tdb.name));
        api_config.rate_limit_per_token = 100_000;
        api_config.rate_limit_per_tenant = 100_000;
        api_config.rate_limit_per_ip = 100_000;
        // Webhook tests deliver to receivers on 127.0.0.1.
        api_config.webhook_allow_private = true;
        api_config.webhook_poll_ms = 200;
        let admin_token = api_config.admin_token.clone().unwrap_or_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let api = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(inlet_api::serve(
            listener,
            db.clone(),
            api_config,
            stopped(rx.clone()),
        ));

        let tls_dir = tempdir::Dir::new("tls");
        let mut config = IngestConfig::defaults();
        config.rtmp_listen = "127.0.0.1:0".parse().expect("addr");
        config.rtmps_listen = "127.0.0.1:0".parse().expect("addr");
        config.api_url = api.clone();
        config.tls_dev_dir = tls_dir.0.clone();
        let hls_dir = with_hls.then(|| tempdir::Dir::new("hls"));
        let hls_listener = match with_hls {
            true => Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind hls"),
            ),
            false => None,
        };
        if let (Some(dir), Some(l)) = (&hls_dir, &hls_listener) {
            config.hls_dir = Some(dir.0.clone());
            config.hls_public_url = format!("http://{}", l.local_addr().expect("addr"));
        }
        configure(&mut config);
        let sinks = Arc::new(RecordingSinks::default());
        let factory: Arc<dyn SinkFactory> = if with_hls {
            Arc::new(HlsSinks::new(&config))
        } else {
            sinks.clone()
        };
        let hls_public = config.hls_public_url.clone();
        let ingest = Ingest::bind(config, "test-node", NODE_SECRET, factory, true)
            .await
            .expect("bind ingest");
        let rtmp = ingest.rtmp_addr().expect("rtmp addr");
        let rtmps = ingest.rtmps_addr().expect("rtmps addr");
        let metrics = ingest.shared.metrics.clone();
        let hls = match (hls_dir, hls_listener) {
            (Some(dir), Some(l)) => {
                let serve = inlet_ingest::server::http::serve(
                    l,
                    metrics.clone(),
                    dir.0.clone(),
                    stopped(rx.clone()),
                );
                tokio::spawn(serve);
                Some((dir, hls_public))
            }
            _ => None,
        };
        tokio::spawn(ingest.run(rx));
        Stack {
            api,
            db,
            admin_token,
            rtmp,
            rtmps,
            sinks,
            metrics,
            http: reqwest::Client::new(),
            stop,
            tls_dir,
            hls,
        }
    }

    /// Creates a tenant and a stream without a reconnect window: (api token, stream id, stream key).
    pub async fn stream(&self) -> (String, String, String) {
        let email = format!(
            "owner-{}@example.com",
            self.sinks.sessions.lock().expect("s").len() as u64 + rand_u64()
        );
        let t: Value = self
            .http
            .post(format!("{}/admin/v1/tenants", self.api))
            .bearer_auth(&self.admin_token)
            .json(&json!({"name": "acme", "owner_email": email, "owner_password": "correct horse battery"}))
            .send()
            .await
            .expect("tenant")
            .json()
            .await
            .expect("json");
        let token = t["api_token"]["token"].as_str().expect("token").to_string();
        let s: Value = self
            .http
            .post(format!("{}/v1/streams", self.api))
            .bearer_auth(&token)
            // No reconnect window: most tests expect a session to end when its publisher leaves;
            // the reconnect tests set one.
            .json(&json!({"name": "studio", "reconnect_window_seconds": 0}))
            .send()
            .await
            .expect("stream")
            .json()
            .await
            .expect("json");
        (
            token,
            s["stream"]["id"].as_str().expect("id").to_string(),
            s["stream_key"].as_str().expect("key").to_string(),
        )
    }

    /// Signals shutdown to the API and the ingest.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    pub fn rtmp_url(&self, app: &str, name: &str) -> String {
        format!("rtmp://{}/{app}/{name}", self.rtmp)
    }

    pub fn rtmps_url(&self, app: &str, name: &str) -> String {
        format!("rtmps://{}/{app}/{name}", self.rtmps)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn rand_u64() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether a program is installed (interop tests need ffmpeg/GStreamer; `.ci/run` installs them).
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("-version")
        .output()
        .is_ok()
        || std::process::Command::new(program)
            .arg("--version")
            .output()
            .is_ok()
}

/// Publishes `seconds` of a 640x360 test pattern with a sine tone using ffmpeg's native RTMP.
pub async fn ffmpeg_publish(url: &str, seconds: u32) -> Output {
    ffmpeg_publish_with(url, seconds, "640x360", 30, &["-g", "60"]).await
}

/// Publishes `seconds` of a `size` test pattern at `fps` with a sine tone, H.264 (x264 ultrafast)
/// with `video_args` added (GOP, bitrate...) and AAC, using ffmpeg's native RTMP.
pub async fn ffmpeg_publish_with(
    url: &str,
    seconds: u32,
    size: &str,
    fps: u32,
    video_args: &[&str],
) -> Output {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "info", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate={fps}"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(video_args)
        .args(["-c:a", "aac", "-b:a", "96k"]);
    if url.starts_with("rtmps://") {
        cmd.args(["-tls_verify", "0"]);
    }
    cmd.args(["-f", "flv", url]).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(u64::from(seconds) + 30), cmd.output())
        .await
        .expect("ffmpeg finishes")
        .expect("ffmpeg runs")
}

/// Decodes an HLS playlist (or any input) with ffmpeg into nothing; returns what ffmpeg reported as
/// errors (empty when it decoded cleanly), asserting that it exited 0.
pub async fn ffmpeg_decode_errors(url: &str) -> String {
    let decode = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            url,
            "-f",
            "null",
            "-",
        ])
        .output()
        .await
        .expect("ffmpeg runs");
    let errors = String::from_utf8_lossy(&decode.stderr).trim().to_string();
    assert!(
        decode.status.success(),
        "ffmpeg could not decode {url}: {errors}"
    );
    errors
}
