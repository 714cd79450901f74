//! The dashboard's static files (`INLET_WEB_DIR`, default `web/`) and the browser security headers
//! they are served with: a Content-Security-Policy that allows only this origin (plus `blob:` for
//! the player's Media Source and worker, and the HLS origin for the preview), `frame-ancestors
//! 'none'`, `Referrer-Policy: no-referrer` and `X-Content-Type-Options: nosniff`. Also serves
//! hls.js at `/vendor/hls.min.js` from the npm package installed into `web/node_modules` (see
//! docs/decisions.md), or a stub that tells the page it is missing. It owns no API route and
//! touches no database.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::ApiConfig;

/// Where `npm ci --prefix web` puts the player, relative to the web directory.
pub const HLS_JS: &str = "node_modules/hls.js/dist/hls.min.js";

/// Public URL of the HLS origin when none is configured (the ingest's default).
pub const DEFAULT_HLS_PUBLIC_URL: &str = "http://127.0.0.1:8081";

/// Served at `/vendor/hls.min.js` when hls.js is not installed: the page reads the flag and shows
/// the playback URL with how to enable the in-page preview, instead of failing to load a script.
const HLS_STUB: &str = "/* hls.js is not installed: run `npm ci --prefix web` and reload. */\nself.inletHlsMissing = true;\n";

/// The static-file service for the router's fallback.
pub fn service(config: &ApiConfig) -> Router {
    let origins = media_origins(
        Some(config.dashboard_hls_url.as_str()),
        Some(config.dashboard_media_origins.as_str()),
    );
    router(&config.web_dir, &origins)
}

/// The static files of `dir`, with the security headers; `media_origins` may serve the preview.
pub fn router(dir: &Path, media_origins: &[String]) -> Router {
    let csp = HeaderValue::from_str(&content_security_policy(media_origins))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let files = ServeDir::new(dir).append_index_html_on_directories(true);
    Router::new()
        .route("/vendor/hls.min.js", get(hls_js))
        // Installed packages and their manifests are build inputs, not part of the dashboard.
        .route("/node_modules", any(not_found))
        .route("/node_modules/{*rest}", any(not_found))
        .route("/package.json", any(not_found))
        .route("/package-lock.json", any(not_found))
        .fallback_service(files)
        .with_state(dir.to_path_buf())
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
        // Revalidate on every load (Last-Modified), so an upgrade never mixes old and new modules.
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

async fn hls_js(State(dir): State<PathBuf>, req: Request) -> Response {
    let path = dir.join(HLS_JS);
    if path.is_file() {
        match ServeFile::new(path).oneshot(req).await {
            Ok(resp) => resp.into_response(),
            Err(e) => match e {},
        }
    } else {
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            HLS_STUB,
        )
            .into_response()
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

    async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        use http_body_util::BodyExt;
        let req = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn serves_files_with_headers_a_stub_without_hls_js_and_hides_node_modules() {
        let dir = std::env::temp_dir().join(format!("inlet-web-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("node_modules/hls.js")).expect("mkdir");
        std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").expect("write");
        std::fs::write(dir.join("node_modules/hls.js/package.json"), "{}").expect("write");
        let app = router(&dir, &["http://127.0.0.1:8081".to_string()]);

        let (status, headers, body) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>t</title>"));
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:8081"));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        // No `npm ci --prefix web`: the page learns it, and no script fails to load.
        let (status, headers, body) = get(&app, "/vendor/hls.min.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("type")
                .starts_with("text/javascript")
        );
        assert!(body.contains("self.inletHlsMissing = true"));

        std::fs::create_dir_all(dir.join("node_modules/hls.js/dist")).expect("mkdir");
        std::fs::write(dir.join(HLS_JS), "/* hls */").expect("write");
        let (status, _, body) = get(&app, "/vendor/hls.min.js").await;
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
