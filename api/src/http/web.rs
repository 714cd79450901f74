//! The dashboard's static files and the browser security headers they are served with: a
//! Content-Security-Policy that allows only this origin (plus `blob:` for the player's Media Source
//! and worker, and the HLS origin for the preview), `frame-ancestors 'none'`, `Referrer-Policy:
//! no-referrer` and `X-Content-Type-Options: nosniff`, and `Cache-Control: no-cache`.
//!
//! The files are those of `web/` built into the binary ([`embedded`]), so `inlet` serves its
//! dashboard from any working directory; `INLET_WEB_DIR` serves a directory from disk instead (a
//! development override: edit and reload without rebuilding). `/docs` is the API reference page
//! (`docs.html`). hls.js is vendored under `web/vendor/hls.js/` (see docs/decisions.md); where a
//! directory lacks it, its path answers a stub that tells the page, so no script fails to load.
//! It owns no API route and touches no database.

pub mod embedded;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::ApiConfig;

/// The vendored player, relative to the web directory (the page loads it from `/` + this).
pub const HLS_JS: &str = "vendor/hls.js/hls.light.min.js";

/// The API reference page, served at `/docs`.
const DOCS_PAGE: &str = "docs.html";

/// Public URL of the HLS origin when none is configured (the ingest's default).
pub const DEFAULT_HLS_PUBLIC_URL: &str = "http://127.0.0.1:8081";

/// Served at the player's path when the web directory lacks it: the page reads the flag and shows
/// the playback URL with why there is no in-page preview, instead of failing to load a script.
const HLS_STUB: &str = "/* hls.js is missing from INLET_WEB_DIR (vendor/hls.js/): unset INLET_WEB_DIR or copy web/vendor/ into it. */\nself.inletHlsMissing = true;\n";

/// Where the dashboard's files come from.
#[derive(Clone, Debug)]
pub enum WebSource {
    /// The files of `web/` built into the binary.
    Embedded,
    /// A directory on disk (`INLET_WEB_DIR`).
    Dir(PathBuf),
}

/// The static-file service for the router's fallback; logs where the files come from.
pub fn service(config: &ApiConfig) -> Router {
    let origins = media_origins(
        Some(config.dashboard_hls_url.as_str()),
        Some(config.dashboard_media_origins.as_str()),
    );
    let source = match &config.web_dir {
        Some(dir) => {
            if dir.join("index.html").is_file() {
                tracing::info!(dir = %dir.display(), "dashboard served from INLET_WEB_DIR (files on disk)");
            } else {
                tracing::warn!(dir = %dir.display(), "INLET_WEB_DIR has no index.html: the dashboard answers 404; unset it to serve the files built into the binary");
            }
            WebSource::Dir(dir.clone())
        }
        None => {
            tracing::info!(
                files = embedded::count(),
                "dashboard served from the files built into the binary (set INLET_WEB_DIR to serve a directory instead)"
            );
            WebSource::Embedded
        }
    };
    router(source, &origins)
}

/// The dashboard's files from `source`, with the security headers; `media_origins` may serve the
/// preview.
pub fn router(source: WebSource, media_origins: &[String]) -> Router {
    let csp = HeaderValue::from_str(&content_security_policy(media_origins))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    Router::new()
        .route(&format!("/{HLS_JS}"), get(hls_js))
        .route("/docs", get(docs_page))
        // Installed packages and their manifests are build inputs, not part of the dashboard (the
        // embedded files never hold them; a directory on disk may).
        .route("/node_modules", any(not_found))
        .route("/node_modules/{*rest}", any(not_found))
        .route("/package.json", any(not_found))
        .route("/package-lock.json", any(not_found))
        .fallback(static_file)
        .with_state(Arc::new(source))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        ))
        // Revalidate on every load (ETag for the embedded files, Last-Modified for a directory),
        // so an upgrade never mixes old and new modules.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
}

/// The policy: everything from this origin only; the HLS origins may be fetched (hls.js) and played
/// (native HLS); `blob:` is the Media Source URL hls.js attaches and the worker it starts.
pub fn content_security_policy(media_origins: &[String]) -> String {
    let extra: String = media_origins.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'{extra}; media-src 'self' blob:{extra}; \
         worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The origins the preview may load from: that of the public HLS URL (default
/// `http://127.0.0.1:8081`) and any listed in `extra` (comma-separated, e.g. a CDN). Entries that
/// are not a plain `http(s)://host[:port]` are left out, so a setting cannot widen the policy.
pub fn media_origins(hls_public_url: Option<&str>, extra: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let hls = hls_public_url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_HLS_PUBLIC_URL);
    for url in std::iter::once(hls).chain(extra.unwrap_or_default().split(',')) {
        let url = url.trim();
        if url.is_empty() {
            continue;
        }
        match origin_of(url) {
            Some(o) if !out.contains(&o) => out.push(o),
            Some(_) => {}
            None => tracing::warn!(url, "not an http(s) origin; left out of the dashboard CSP"),
        }
    }
    out
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, or `None`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let ok = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Any other path: a file of the source, `index.html` for `/`.
async fn static_file(State(source): State<Arc<WebSource>>, req: Request) -> Response {
    match source.as_ref() {
        WebSource::Embedded => embedded::serve_path(req.method(), req.headers(), req.uri().path()),
        WebSource::Dir(dir) => {
            let files = ServeDir::new(dir).append_index_html_on_directories(true);
            match files.oneshot(req).await {
                Ok(resp) => resp.into_response(),
                Err(e) => match e {},
            }
        }
    }
}

/// The file `rel` of the source, or `None` when the source lacks it.
async fn one_file(source: &WebSource, rel: &str, req: Request) -> Option<Response> {
    match source {
        WebSource::Embedded => {
            embedded::get(rel).map(|f| embedded::respond(req.method(), req.headers(), f))
        }
        WebSource::Dir(dir) => {
            let path = dir.join(rel);
            if !path.is_file() {
                return None;
            }
            match ServeFile::new(path).oneshot(req).await {
                Ok(resp) => Some(resp.into_response()),
                Err(e) => match e {},
            }
        }
    }
}

async fn docs_page(State(source): State<Arc<WebSource>>, req: Request) -> Response {
    one_file(&source, DOCS_PAGE, req)
        .await
        .unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

async fn hls_js(State(source): State<Arc<WebSource>>, req: Request) -> Response {
    match one_file(&source, HLS_JS, req).await {
        Some(resp) => resp,
        None => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            HLS_STUB,
        )
            .into_response(),
    }
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_origins_default_to_the_ingest_and_keep_only_plain_origins() {
        assert_eq!(media_origins(None, None), vec!["http://127.0.0.1:8081"]);
        assert_eq!(
            media_origins(
                Some("https://HLS.example.com/base/"),
                Some(
                    " https://cdn.example.net:8443/x, javascript:alert(1), http://a b, https://hls.example.com"
                ),
            ),
            vec!["https://hls.example.com", "https://cdn.example.net:8443"]
        );
        assert_eq!(
            media_origins(Some("http://[::1]:8081"), Some("http://u:p@evil")),
            vec!["http://[::1]:8081"]
        );
        assert!(media_origins(Some("http://x; script-src *"), None).is_empty());
    }

    async fn send(app: &Router, req: Request) -> (StatusCode, axum::http::HeaderMap, String) {
        use http_body_util::BodyExt;
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let req = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("request");
        send(app, req).await
    }

    fn assert_security_headers(headers: &axum::http::HeaderMap) {
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:8081"));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    }

    #[tokio::test]
    async fn a_directory_is_served_with_headers_a_stub_without_hls_js_and_no_node_modules() {
        let dir = std::env::temp_dir().join(format!("inlet-web-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("node_modules/hls.js")).expect("mkdir");
        std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").expect("write");
        std::fs::write(dir.join(DOCS_PAGE), "<title>docs</title>").expect("write");
        std::fs::write(dir.join("node_modules/hls.js/package.json"), "{}").expect("write");
        std::fs::write(dir.join("package.json"), "{}").expect("write");
        let app = router(
            WebSource::Dir(dir.clone()),
            &["http://127.0.0.1:8081".to_string()],
        );

        let (status, headers, body) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>t</title>"));
        assert_security_headers(&headers);
        assert!(headers.contains_key(header::LAST_MODIFIED));
        let (status, _, body) = get(&app, "/docs").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "<title>docs</title>")
        );

        // A directory without the vendored player: the page learns it, no script fails to load.
        let hls_path = format!("/{HLS_JS}");
        let (status, headers, body) = get(&app, &hls_path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("type")
                .starts_with("text/javascript")
        );
        assert!(body.contains("self.inletHlsMissing = true"));
        assert_security_headers(&headers);

        std::fs::create_dir_all(dir.join("vendor/hls.js")).expect("mkdir");
        std::fs::write(dir.join(HLS_JS), "/* hls */").expect("write");
        let (status, _, body) = get(&app, &hls_path).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "/* hls */"));

        for hidden in [
            "/node_modules/hls.js/package.json",
            "/package.json",
            "/package-lock.json",
        ] {
            assert_eq!(get(&app, hidden).await.0, StatusCode::NOT_FOUND, "{hidden}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_embedded_files_are_served_with_headers_etags_and_the_real_player() {
        let app = router(WebSource::Embedded, &["http://127.0.0.1:8081".to_string()]);
        let (status, headers, body) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body.contains("/js/app.js"));
        assert_security_headers(&headers);

        let (status, headers, body) = get(&app, "/js/app.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            body.as_bytes(),
            embedded::get("js/app.js").expect("app.js").bytes
        );
        assert_security_headers(&headers);
        let etag = headers[header::ETAG].clone();
        assert!(etag.to_str().expect("etag").starts_with("W/\""));

        // Revalidation: the same ETag is a 304 without a body; another one gets the file.
        let conditional = |tag: HeaderValue| {
            Request::builder()
                .uri("/js/app.js")
                .header(header::IF_NONE_MATCH, tag)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let (status, headers, body) = send(&app, conditional(etag.clone())).await;
        assert_eq!((status, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
        assert_eq!(headers[header::ETAG], etag);
        let (status, _, _) = send(&app, conditional(HeaderValue::from_static("W/\"old\""))).await;
        assert_eq!(status, StatusCode::OK);

        let (status, headers, body) = get(&app, "/docs").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body.contains("/js/docs.js"));
        let (status, _, body) = get(&app, &format!("/{HLS_JS}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.len() > 300_000 && !body.contains("inletHlsMissing"));

        for missing in [
            "/package.json",
            "/node_modules/hls.js/package.json",
            "/nope.js",
        ] {
            assert_eq!(
                get(&app, missing).await.0,
                StatusCode::NOT_FOUND,
                "{missing}"
            );
        }
        let head = Request::builder()
            .method("HEAD")
            .uri("/app.css")
            .body(axum::body::Body::empty())
            .expect("request");
        let (status, headers, body) = send(&app, head).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
        assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
        let post = Request::builder()
            .method("POST")
            .uri("/index.html")
            .body(axum::body::Body::empty())
            .expect("request");
        assert_eq!(send(&app, post).await.0, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn policy_allows_only_self_blob_and_the_hls_origins() {
        let csp = content_security_policy(&["http://127.0.0.1:8081".into()]);
        assert!(csp.contains("default-src 'self';"));
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:8081;"));
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:8081;"));
        assert!(csp.contains("worker-src 'self' blob:;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
    }
}
