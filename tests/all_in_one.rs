//! The README's `cargo run --release` path, black-box: the `inlet` binary creates a private
//! PostgreSQL under its data dir, prints the dashboard URL and one-time credentials, answers
//! `/readyz`, keeps its data across a restart, and exits 0 on SIGTERM leaving no postgres behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Running {
    child: Child,
    banner: String,
    api: String,
}

struct Ports {
    api: u16,
    hls: u16,
    rtmp: u16,
    rtmps: u16,
}

async fn start(data_dir: &Path, ports: &Ports) -> Running {
    let api_port = ports.api;
    let mut child = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--api-listen")
        .arg(format!("127.0.0.1:{api_port}"))
        .arg("--hls-listen")
        .arg(format!("127.0.0.1:{}", ports.hls))
        .arg("--rtmp-listen")
        .arg(format!("127.0.0.1:{}", ports.rtmp))
        .arg("--rtmps-listen")
        .arg(format!("127.0.0.1:{}", ports.rtmps))
        .arg("--public-rtmp-url")
        .arg(format!("rtmp://127.0.0.1:{}/live", ports.rtmp))
        .env_remove("DATABASE_URL")
        .env_remove("INLET_ADMIN_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn inlet");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("HLS:") {
                // The banner is printed in one piece; the rest follows at once.
                while let Ok(Ok(Some(more))) =
                    tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
                {
                    banner.push_str(&more);
                    banner.push('\n');
                }
                return;
            }
        }
        panic!("inlet exited before printing its banner:\n{banner}");
    };
    tokio::time::timeout(Duration::from_secs(90), read)
        .await
        .expect("banner within 90 s");
    Running {
        child,
        banner,
        api: format!("http://127.0.0.1:{api_port}"),
    }
}

async fn stop(mut r: Running) {
    let pid = r.child.id().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let asked = std::time::Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(60), r.child.wait())
        .await
        .expect("exits within 60 s")
        .expect("wait");
    assert_eq!(exit.code(), Some(0), "inlet exits 0 on SIGTERM");
    // Idle, the ingest, then the API, then the private PostgreSQL stop within about 2 s (3 s of
    // room for a loaded CI machine): no heartbeat retries against an API already gone.
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(3), "idle shutdown took {took:?}");
}

fn after<'a>(banner: &'a str, label: &str) -> &'a str {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("banner lacks {label}:\n{banner}"))
        .trim()
}

/// Processes whose command line mentions the data dir (a running postgres would).
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) && !cmd.contains("all_in_one") {
                found.push(cmd);
            }
        }
    }
    found
}

#[tokio::test]
async fn all_in_one_starts_prints_credentials_survives_restart_and_stops_cleanly() {
    let data_dir: PathBuf = std::env::temp_dir().join(format!("inlet-aio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let ports = Ports {
        api: free_port(),
        hls: free_port(),
        rtmp: free_port(),
        rtmps: free_port(),
    };
    let (api_port, hls_port) = (ports.api, ports.hls);
    let http = reqwest::Client::new();

    // First start: private cluster created, credentials printed once.
    let first = start(&data_dir, &ports).await;
    assert!(
        data_dir.join("postgres").join("PG_VERSION").exists(),
        "cluster under the data dir"
    );
    assert!(
        first
            .banner
            .contains(&format!("Dashboard:   http://127.0.0.1:{api_port}/")),
        "{}",
        first.banner
    );
    let login = after(&first.banner, "Admin login:");
    let (email, password) = login.split_once(" / ").expect("email / password");
    let operator = after(
        &first.banner,
        "Operator token (Authorization: Bearer …, for /admin/v1):",
    )
    .to_string();
    let key = after(&first.banner, "Stream Key:").to_string();
    assert!(key.starts_with("sk_"));
    readme_walk_through_runs(api_port, &operator).await;
    let rtmp_url = format!("rtmp://127.0.0.1:{}/live", ports.rtmp);
    assert!(
        first.banner.contains(&format!("{rtmp_url}/{key}")),
        "ffmpeg example"
    );
    assert!(
        data_dir.join("secret.key").exists(),
        "sealing key generated"
    );
    assert!(
        data_dir.join("tls").join("dev-cert.pem").exists(),
        "RTMPS dev certificate generated"
    );

    // The printed stream key publishes with ffmpeg, as the banner says.
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
        ])
        .args([
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-f",
            "flv",
        ])
        .arg(format!("{rtmp_url}/{key}"))
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(
        ffmpeg.status.success(),
        "publish with the printed key: {}",
        String::from_utf8_lossy(&ffmpeg.stderr)
    );

    let ready = http
        .get(format!("{}/readyz", first.api))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let ingest = http
        .get(format!("http://127.0.0.1:{hls_port}/healthz"))
        .send()
        .await
        .expect("ingest");
    assert_eq!(ingest.status(), 200);
    let resp = http
        .post(format!("{}/v1/auth/login", first.api))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200, "the printed admin login works");
    let resp = http
        .post(format!("{}/admin/v1/tenants", first.api))
        .bearer_auth(&operator)
        .json(&json!({"name": "globex", "owner_email": "ops@globex.example", "owner_password": "0123456789abc"}))
        .send()
        .await
        .expect("tenant");
    assert_eq!(resp.status(), 201, "the printed operator token works");
    let created: Value = resp.json().await.expect("json");
    let token = created["api_token"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let email = email.to_string();
    let password = password.to_string();
    stop(first).await;
    assert!(
        processes_using(&data_dir).is_empty(),
        "postgres left running: {:?}",
        processes_using(&data_dir)
    );

    // Second start: same data, nothing secret printed again.
    let second = start(&data_dir, &ports).await;
    assert!(
        !second.banner.contains("Admin login"),
        "credentials are shown once"
    );
    assert!(!second.banner.contains("Operator token"));
    let resp = http
        .post(format!("{}/v1/auth/login", second.api))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200, "admin survives the restart");
    let resp = http
        .get(format!("{}/v1/streams", second.api))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    assert_eq!(resp.status(), 200, "tenant token survives the restart");
    stop(second).await;
    assert!(
        processes_using(&data_dir).is_empty(),
        "postgres left running after restart"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The README's walk-through (its two shell blocks after "A first walk through the API") runs as
/// written against this `inlet`, with `API` and `OPERATOR_TOKEN` set to its own: every `curl -f`
/// succeeds and every step's `jq` finds what it reads.
async fn readme_walk_through_runs(api_port: u16, operator: &str) {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("## A first walk through the API")
        .expect("walk-through section");
    let section = &readme[start..];
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .take(2)
        .filter_map(|b| b.split("\n```").next())
        .collect();
    assert_eq!(blocks.len(), 2, "two shell blocks in the walk-through");
    let script: String = blocks
        .join("\n")
        .lines()
        .filter(|l| !l.starts_with("API=") && !l.starts_with("OPERATOR_TOKEN="))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        script.contains("curl -fsS"),
        "the walk-through uses curl -f"
    );
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("API", format!("http://127.0.0.1:{api_port}"))
        .env("OPERATOR_TOKEN", operator)
        .output()
        .await
        .expect("bash runs");
    assert!(
        out.status.success(),
        "README walk-through failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("OBS Stream Key: sk_"), "{printed}");
    assert!(printed.contains("stream_key.rotated"), "{printed}");
}
