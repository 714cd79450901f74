//! The dashboard in a real browser against a real `inlet` (private PostgreSQL, API, in-process
//! ingest): headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core) logs in
//! with the printed admin login, creates a stream, copies Server and Stream Key (the clipboard
//! must hold what the API answered), publishes with ffmpeg using exactly those values, sees the
//! stream go live and the preview's `video.currentTime` advance, rotates with grace "now" and
//! "disconnect", sees ffmpeg cut and the retry with the old key explained, excludes 127.0.0.1 with
//! the allowlist editor and sees that refusal explained, visits every page with no console error,
//! and writes screenshots of the main pages into `docs/screenshots/` (`INLET_SCREENSHOTS_DIR`
//! overrides). Webhooks too: an endpoint added on the Webhooks page points at a receiver inside the
//! script (so `inlet` runs with `INLET_WEBHOOK_ALLOW_PRIVATE=true`), which checks that the secret
//! shown once signs what it gets; Test, the deliveries log, redelivery, secret rotation and the
//! stream's Events timeline are used as a customer would. The scenario itself is
//! `tests/dashboard/dashboard.mjs`.
//!
//! Like `ingest/tests/hls_browser.rs` it runs `npm ci` (in `tests/dashboard/` for playwright-core
//! and in `web/` for hls.js) when `node_modules` is missing, so the first run needs the npm
//! registry; it needs Node.js 20 or newer, Chromium and ffmpeg, and fails rather than skips
//! without them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use inlet_testsupport::browser;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Inlet {
    child: Child,
    api: String,
    hls: String,
    email: String,
    password: String,
}

/// Starts the all-in-one on free ports with a fresh data dir, and reads the admin login from its
/// first-start banner.
async fn start_inlet(data_dir: &Path) -> Inlet {
    let (api, hls, rtmp, rtmps) = (free_port(), free_port(), free_port(), free_port());
    let hls_url = format!("http://127.0.0.1:{hls}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--web-dir")
        .arg(root().join("web"))
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(["--hls-listen", &format!("127.0.0.1:{hls}")])
        .args(["--rtmp-listen", &format!("127.0.0.1:{rtmp}")])
        .args(["--rtmps-listen", &format!("127.0.0.1:{rtmps}")])
        .args([
            "--public-rtmp-url",
            &format!("rtmp://127.0.0.1:{rtmp}/live"),
        ])
        .args([
            "--public-rtmps-url",
            &format!("rtmps://127.0.0.1:{rtmps}/live"),
        ])
        .args(["--health-interval-secs", "1"])
        // The ingest builds playback URLs from it, and the dashboard's CSP admits its origin.
        .env("INLET_HLS_PUBLIC_URL", &hls_url)
        // The test's webhook receiver listens on 127.0.0.1, over plain http.
        .env("INLET_WEBHOOK_ALLOW_PRIVATE", "true")
        .env_remove("DATABASE_URL")
        .env_remove("INLET_ADMIN_TOKEN")
        .env_remove("INLET_DASHBOARD_MEDIA_ORIGINS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn inlet");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut login = None;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(rest) = line.trim().strip_prefix("Admin login:") {
                login = rest
                    .trim()
                    .split_once(" / ")
                    .map(|(e, p)| (e.to_string(), p.to_string()));
            }
            if line.contains("Stream Key:") {
                return;
            }
        }
        panic!("inlet exited before printing its first-start banner");
    };
    tokio::time::timeout(Duration::from_secs(90), read)
        .await
        .expect("banner within 90 s");
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (email, password) = login.expect("the banner prints the admin login");
    Inlet {
        child,
        api: format!("http://127.0.0.1:{api}"),
        hls: hls_url,
        email,
        password,
    }
}

async fn stop_inlet(mut inlet: Inlet) {
    if let Some(pid) = inlet.child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let exit = tokio::time::timeout(Duration::from_secs(60), inlet.child.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(s)) if s.success()),
        "inlet exits 0 on SIGTERM: {exit:?}"
    );
}

/// The dashboard's pure modules (CIDR validation, the explanations of every reason code) under
/// `node --test`: `tests/dashboard/unit.test.mjs`.
#[test]
fn dashboard_modules_pass_their_unit_tests_under_node() {
    browser::require_tools("tests/dashboard/node_modules and web/node_modules");
    let out = std::process::Command::new("node")
        .args(["--test", "unit.test.mjs"])
        .current_dir(root().join("tests/dashboard"))
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node --test failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn dashboard_walkthrough_in_headless_chromium() {
    let begun = Instant::now();
    browser::require_tools("tests/dashboard/node_modules and web/node_modules");
    let fixtures = root().join("tests/dashboard");
    browser::ensure_node_modules(&fixtures, &["node_modules/playwright-core/package.json"]).await;
    browser::ensure_node_modules(
        &root().join("web"),
        &["node_modules/hls.js/dist/hls.min.js"],
    )
    .await;
    let screenshots = std::env::var_os("INLET_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("docs/screenshots"));

    let data_dir = TempDir(std::env::temp_dir().join(format!("inlet-dash-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&data_dir.0);
    let inlet = start_inlet(&data_dir.0).await;
    let started = begun.elapsed();

    // The static files carry the security headers; hls.js comes from the npm package.
    let http = reqwest::Client::new();
    let index = http
        .get(format!("{}/", inlet.api))
        .send()
        .await
        .expect("GET /");
    assert_eq!(index.status(), 200);
    let csp = index
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains(&format!("media-src 'self' blob: {}", inlet.hls))
            && csp.contains(&format!("connect-src 'self' {}", inlet.hls))
            && csp.contains("frame-ancestors 'none'"),
        "CSP: {csp}"
    );
    assert_eq!(
        index
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert_eq!(
        index
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let hls_js = http
        .get(format!("{}/vendor/hls.min.js", inlet.api))
        .send()
        .await
        .expect("hls.js");
    assert_eq!(hls_js.status(), 200);
    assert!(
        hls_js.text().await.unwrap_or_default().len() > 100_000,
        "/vendor/hls.min.js serves the npm package, not the stub"
    );
    let hidden = http
        .get(format!("{}/node_modules/hls.js/package.json", inlet.api))
        .send()
        .await
        .expect("node_modules");
    assert_eq!(hidden.status(), 404, "node_modules is not served");

    let run = browser::run_script(&fixtures, "dashboard.mjs", Duration::from_secs(240), |c| {
        c.args(["--base", &inlet.api])
            .args(["--email", &inlet.email])
            .args(["--password", &inlet.password])
            .arg("--screenshots")
            .arg(&screenshots);
    })
    .await;
    let (result, stderr) = (run.result, run.stderr);
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    println!(
        "inlet up after {started:?}, browser run {} ms, total {:?}",
        result["elapsedMs"],
        begun.elapsed()
    );
    stop_inlet(inlet).await;

    let failed: Vec<&Value> = result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["ok"] != true)
        .collect();
    assert!(
        failed.is_empty() && result["error"].is_null(),
        "failed steps: {failed:#?}\nerror: {}\nstderr: {stderr}",
        result["error"]
    );
    assert_eq!(
        result["consoleErrors"].as_array().map(Vec::len),
        Some(0),
        "console errors: {}",
        result["consoleErrors"]
    );
    assert_eq!(
        result["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "uncaught page errors: {}",
        result["pageErrors"]
    );
    assert_eq!(
        result["a11y"].as_array().map(Vec::len),
        Some(0),
        "controls without labels: {}",
        result["a11y"]
    );
    assert!(
        result["ok"] == true && run.status.success(),
        "dashboard.mjs failed: {result}"
    );
    for name in [
        "login",
        "streams",
        "stream-created",
        "stream-live",
        "stream-live-360px",
        "stream-keys",
        "stream-attempts",
        "stream-settings",
        "stream-sessions",
        "api-tokens",
        "stream-events",
        "webhooks",
        "webhook",
        "signing-keys",
        "audit-log",
        "account",
    ] {
        let png = screenshots.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", png.display());
    }
}
