//! HLS in a real browser: ffmpeg publishes 20 s of 720p30 (2 s GOP, two B-frames as OBS's x264
//! defaults have, so composition offsets reach the player; AAC); once the API shows
//! `playback.hls_url`, headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core)
//! opens `tests/browser/index.html` over http, which plays the URL with hls.js, and
//! `video.currentTime` must advance across segment boundaries with no hls.js fatal error, no media
//! error and no console error.
//!
//! The browser fixtures (`tests/browser/`) hold only `package.json`, its lock file, the page and the
//! driver `play.mjs`: this test runs `npm ci` there when `node_modules` is missing, so it needs
//! network access to the npm registry the first time. It needs Node.js 20 or newer, Chromium and
//! ffmpeg (`.ci/run` installs Chromium and ffmpeg); it fails, rather than skipping, without them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Stack;
use inlet_testsupport::browser;
use serde_json::Value;
use tower_http::services::ServeFile;

/// How far `video.currentTime` must advance: past at least one 2 s segment boundary.
const MIN_ADVANCE_SECS: f64 = 4.0;

/// hls.js as the npm package ships it, at the path the page loads it from.
const HLS_JS: &str = "node_modules/hls.js/dist/hls.min.js";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Serves the player page and hls.js over http on an ephemeral port; returns the page URL.
async fn serve_page(dir: &Path) -> String {
    let app = axum::Router::new()
        .route_service("/index.html", ServeFile::new(dir.join("index.html")))
        .route_service(&format!("/{HLS_JS}"), ServeFile::new(dir.join(HLS_JS)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind page server");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/index.html")
}

#[tokio::test]
async fn published_stream_plays_in_headless_chromium_with_hls_js() {
    let begun = Instant::now();
    browser::require_tools("ingest/tests/browser/node_modules");
    let dir = fixtures();
    browser::ensure_node_modules(&dir, &[HLS_JS, "node_modules/playwright-core/package.json"])
        .await;
    let page = serve_page(&dir).await;

    let stack = Stack::start_hls(|_| {}).await;
    let (token, stream_id, key) = stack.stream().await;
    let url = stack.rtmp_url("live", &key);
    let publisher = tokio::spawn(async move {
        let cmd = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "20", "-c:v", "libx264", "-preset", "ultrafast"])
            .args([
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-bf",
                "2",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv", &url])
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(60), cmd)
            .await
            .expect("ffmpeg finishes")
            .expect("ffmpeg runs")
    });

    // The playback URL appears once the first segment exists.
    let mut hls_url = None;
    for _ in 0..150 {
        let s: Value = stack
            .http
            .get(format!("{}/v1/streams/{stream_id}", stack.api))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get stream")
            .json()
            .await
            .expect("json");
        if let Some(u) = s["playback"]["hls_url"].as_str() {
            hls_url = Some(u.to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hls_url = hls_url.expect("playback.hls_url appears within 15 s");
    let hls_ready = begun.elapsed();

    // play.mjs gives up by itself after 30 s of playback plus browser start and shutdown.
    let run = browser::run_script(&dir, "play.mjs", Duration::from_secs(75), |c| {
        c.arg(&page)
            .arg(&hls_url)
            .args(["--min-advance", &MIN_ADVANCE_SECS.to_string()])
            .args(["--timeout", "30"]);
    })
    .await;
    let (result, stderr) = (run.result, run.stderr);
    println!("hls.js result: {result}");
    println!(
        "hls_url after {hls_ready:?}, player done after {:?}",
        begun.elapsed()
    );

    let fatal: Vec<&Value> = result["hlsErrors"]
        .as_array()
        .expect("hlsErrors")
        .iter()
        .filter(|e| e["fatal"] == true)
        .collect();
    assert!(fatal.is_empty(), "hls.js fatal errors: {fatal:?}\n{result}");
    assert_eq!(
        result["errors"].as_array().map(Vec::len),
        Some(0),
        "player errors: {result}\nstderr: {stderr}"
    );
    let advanced = result["advanced"].as_f64().unwrap_or(0.0);
    assert!(
        advanced >= MIN_ADVANCE_SECS,
        "video.currentTime advanced {advanced} s: {result}"
    );
    assert!(
        result["ok"] == true && run.status.success(),
        "play.mjs failed: {result}\nstderr: {stderr}"
    );

    let out = publisher.await.expect("join publisher");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack.shutdown();
}
