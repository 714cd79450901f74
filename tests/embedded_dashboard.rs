//! The dashboard `inlet` carries in its binary: the real `inlet`, started in an empty temporary
//! directory (so neither `web/` nor `./data` of the repository is there) without `INLET_WEB_DIR`,
//! serves `/`, its modules, the API reference at `/docs` and the vendored hls.js with the security
//! headers and ETag revalidation. In headless Chromium (`tests/dashboard/embedded.mjs`): `/docs`
//! lists every operation of the OpenAPI document with its schemas, the dashboard links to it, the
//! preview of a stream published with ffmpeg plays with the embedded hls.js, and without hls.js it
//! says why instead of claiming native HLS. Also: the vendored hls.js is byte for byte the npm
//! package `web/package-lock.json` pins, and the pure modules behind these pages pass their unit
//! tests under node (`tests/dashboard/reference.test.mjs`).
//!
//! Like `tests/dashboard.rs`, it needs Node.js 20 or newer, npm, Chromium and ffmpeg, runs `npm ci`
//! in `tests/dashboard/` and `web/` when their `node_modules` are missing (the first run needs the
//! npm registry), and fails rather than skips without them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use inlet_testsupport::browser;
use inlet_testsupport::inlet::{self, TempDir, free_port};
use serde_json::Value;
use tokio::process::Child;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Inlet {
    child: Child,
    api: String,
    first: inlet::FirstStart,
    /// `<Server>/<Stream Key>` of the stream `demo`.
    publish_url: String,
}

/// Starts the all-in-one with `cwd` as its working directory and every path at its default
/// (`./data` under `cwd`), no `INLET_WEB_DIR`, and reads the first-start banner.
async fn start_inlet(cwd: &Path) -> Inlet {
    let (api, hls, rtmp, rtmps) = (free_port(), free_port(), free_port(), free_port());
    let rtmp_url = format!("rtmp://127.0.0.1:{rtmp}/live");
    let mut cmd = inlet::command(env!("CARGO_BIN_EXE_inlet"));
    cmd.current_dir(cwd)
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(["--hls-listen", &format!("127.0.0.1:{hls}")])
        .args(["--rtmp-listen", &format!("127.0.0.1:{rtmp}")])
        .args(["--rtmps-listen", &format!("127.0.0.1:{rtmps}")])
        .args(["--public-rtmp-url", &rtmp_url])
        .env("INLET_HLS_PUBLIC_URL", format!("http://127.0.0.1:{hls}"))
        .env_remove("INLET_WEB_DIR")
        .env_remove("INLET_DATA_DIR");
    let mut child = cmd.spawn().expect("spawn inlet");
    let first = inlet::read_first_start(&mut child).await;
    let publish_url = format!("{rtmp_url}/{}", first.stream_key);
    Inlet {
        child,
        api: format!("http://127.0.0.1:{api}"),
        first,
        publish_url,
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The headers every dashboard file carries.
fn assert_dashboard_headers(resp: &reqwest::Response, what: &str) {
    let csp = header(resp, "content-security-policy");
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe"),
        "{what}: CSP {csp}"
    );
    assert_eq!(header(resp, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(resp, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(resp, "cache-control"), "no-cache", "{what}");
    assert!(header(resp, "etag").starts_with("W/\""), "{what}: ETag");
}

#[tokio::test]
async fn inlet_serves_its_embedded_dashboard_and_api_reference_from_any_directory() {
    browser::require_tools("tests/dashboard/node_modules");
    let fixtures = root().join("tests/dashboard");
    browser::ensure_node_modules(&fixtures, &["node_modules/playwright-core/package.json"]).await;
    let cwd = TempDir::fresh("inlet-embedded");
    std::fs::create_dir_all(cwd.path()).expect("mkdir");
    let mut inlet = start_inlet(cwd.path()).await;
    assert!(
        cwd.path().join("data/postgres/PG_VERSION").is_file(),
        "./data is relative to the working directory"
    );
    assert!(!cwd.path().join("web").exists());

    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", inlet.api)).send();
    let index = get("/").await.expect("GET /");
    assert_eq!(index.status(), 200, "/ from the binary");
    assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
    assert_dashboard_headers(&index, "/");
    let etag = header(&index, "etag").to_string();
    assert!(index.text().await.expect("body").contains("/js/app.js"));

    let module = get("/js/app.js").await.expect("app.js");
    assert_eq!(module.status(), 200);
    assert_eq!(
        header(&module, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_dashboard_headers(&module, "/js/app.js");
    let module_etag = header(&module, "etag").to_string();
    assert_ne!(module_etag, etag, "each file has its own ETag");
    let again = http
        .get(format!("{}/js/app.js", inlet.api))
        .header("if-none-match", &module_etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), 304, "an unchanged module is revalidated");

    let docs = get("/docs").await.expect("/docs");
    assert_eq!(docs.status(), 200);
    assert_eq!(header(&docs, "content-type"), "text/html; charset=utf-8");
    assert_dashboard_headers(&docs, "/docs");
    let player = get("/vendor/hls.js/hls.light.min.js")
        .await
        .expect("hls.js");
    assert_eq!(player.status(), 200);
    let vendored =
        std::fs::read(root().join("web/vendor/hls.js/hls.light.min.js")).expect("vendored");
    assert!(
        player.bytes().await.expect("body") == vendored,
        "the binary serves the vendored hls.js, not the stub"
    );
    for hidden in [
        "/package.json",
        "/package-lock.json",
        "/node_modules/hls.js/package.json",
    ] {
        assert_eq!(get(hidden).await.expect(hidden).status(), 404, "{hidden}");
    }

    let run = browser::run_script(&fixtures, "embedded.mjs", Duration::from_secs(240), |c| {
        c.args(["--base", &inlet.api])
            .args(["--email", &inlet.first.email])
            .args(["--password", &inlet.first.password])
            .args(["--publish", &inlet.publish_url]);
    })
    .await;
    inlet::stop(&mut inlet.child).await;
    browser::assert_passed(&run, "embedded.mjs", &[]);
}

/// The copy in `web/vendor/hls.js/` is what npm installs from the lock file (whose `integrity` npm
/// checks), so the vendored code has a provenance: `npm ci --prefix web` and compare.
#[tokio::test]
async fn the_vendored_hls_js_is_the_npm_package_the_lock_file_pins() {
    browser::require_tools("web/node_modules");
    let web = root().join("web");
    browser::ensure_node_modules(&web, &["node_modules/hls.js/dist/hls.light.min.js"]).await;
    for (vendored, npm) in [
        (
            "vendor/hls.js/hls.light.min.js",
            "node_modules/hls.js/dist/hls.light.min.js",
        ),
        ("vendor/hls.js/LICENSE", "node_modules/hls.js/LICENSE"),
    ] {
        let a = std::fs::read(web.join(vendored)).unwrap_or_else(|e| panic!("{vendored}: {e}"));
        let b = std::fs::read(web.join(npm)).unwrap_or_else(|e| panic!("{npm}: {e}"));
        assert!(
            a == b,
            "web/{vendored} differs from web/{npm}: run `npm run vendor --prefix web` after `npm ci --prefix web`"
        );
    }
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(web.join("package-lock.json")).expect("lock file"),
    )
    .expect("json");
    let installed: Value = serde_json::from_str(
        &std::fs::read_to_string(web.join("node_modules/hls.js/package.json")).expect("package"),
    )
    .expect("json");
    assert_eq!(
        lock["packages"]["node_modules/hls.js"]["version"], installed["version"],
        "web/node_modules holds the locked hls.js"
    );
}

/// `tests/dashboard/reference.test.mjs` under `node --test`: web/js/openapi.js and the preview's
/// engine choice (including the Safari branch Chromium cannot reach).
#[test]
fn reference_and_preview_modules_pass_their_unit_tests_under_node() {
    browser::require_tools("tests/dashboard/node_modules");
    browser::node_test(&root().join("tests/dashboard"), "reference.test.mjs");
}
