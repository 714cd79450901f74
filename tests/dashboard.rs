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
//! stream's Events timeline are used as a customer would, and so are the Members page (invite with
//! the password link shown once, a role change, a removal) and the logged-out Choose a password page
//! that link opens, after which the new viewer sees no button that writes. The scenario itself is
//! `tests/dashboard/dashboard.mjs`.
//!
//! Like `ingest/tests/hls_browser.rs` it runs `npm ci` (in `tests/dashboard/` for playwright-core;
//! hls.js is vendored in `web/vendor/`) when `node_modules` is missing, so the first run needs the npm
//! registry; it needs Node.js 20 or newer, Chromium and ffmpeg, and fails rather than skips
//! without them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inlet_testsupport::browser;
use inlet_testsupport::inlet::{self, TempDir, free_port};
use tokio::process::Child;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
    let mut cmd = inlet::command(env!("CARGO_BIN_EXE_inlet"));
    cmd.arg("--data-dir")
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
        .env("INLET_WEBHOOK_ALLOW_PRIVATE", "true");
    let mut child = cmd.spawn().expect("spawn inlet");
    let first = inlet::read_first_start(&mut child).await;
    Inlet {
        child,
        api: format!("http://127.0.0.1:{api}"),
        hls: hls_url,
        email: first.email,
        password: first.password,
    }
}

/// The dashboard's pure modules (CIDR validation, the explanations of every reason code) under
/// `node --test`: `tests/dashboard/unit.test.mjs`.
#[test]
fn dashboard_modules_pass_their_unit_tests_under_node() {
    browser::require_tools("tests/dashboard/node_modules");
    browser::node_test(&root().join("tests/dashboard"), "unit.test.mjs");
}

#[tokio::test]
async fn dashboard_walkthrough_in_headless_chromium() {
    let begun = Instant::now();
    browser::require_tools("tests/dashboard/node_modules");
    let fixtures = root().join("tests/dashboard");
    browser::ensure_node_modules(&fixtures, &["node_modules/playwright-core/package.json"]).await;
    let screenshots = std::env::var_os("INLET_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("docs/screenshots"));

    let data_dir = TempDir::fresh("inlet-dash");
    let mut inlet = start_inlet(data_dir.path()).await;
    let started = begun.elapsed();

    // The static files carry the security headers; hls.js is the vendored copy.
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
        .get(format!("{}/vendor/hls.js/hls.light.min.js", inlet.api))
        .send()
        .await
        .expect("hls.js");
    assert_eq!(hls_js.status(), 200);
    assert!(
        hls_js.text().await.unwrap_or_default().len() > 100_000,
        "the vendored hls.js is served, not the stub"
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
    println!(
        "inlet up after {started:?}, browser run {} ms, total {:?}",
        run.result["elapsedMs"],
        begun.elapsed()
    );
    inlet::stop(&mut inlet.child).await;
    // `a11y`: controls without a label or name, duplicate ids.
    browser::assert_passed(&run, "dashboard.mjs", &["a11y"]);
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
        "members",
        "reset-password",
    ] {
        let png = screenshots.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", png.display());
    }
}
