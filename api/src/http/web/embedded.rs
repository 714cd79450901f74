//! The dashboard's files built into the binary (`api/build.rs` lists `web/` without `node_modules`
//! and the npm manifests), served with a content type from the extension and a weak ETag (a hash
//! of the bytes), so `Cache-Control: no-cache` costs a 304 per file on reload and an upgraded
//! binary is never mixed with cached files of the old one.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// One embedded file.
pub struct File {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    pub etag: String,
}

static INDEX: LazyLock<HashMap<&'static str, File>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(path, bytes)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let file = File {
                bytes,
                content_type: content_type(path),
                etag: format!("W/\"{hex}\""),
            };
            (path, file)
        })
        .collect()
});

/// The file at `path` (relative to `web/`, e.g. `js/app.js`).
pub fn get(path: &str) -> Option<&'static File> {
    INDEX.get(path)
}

/// How many files are embedded.
pub fn count() -> usize {
    FILES.len()
}

/// Answers a request for a URL path like `ServeDir` with `append_index_html_on_directories`: `/`
/// and `…/` are their `index.html`, a directory without its slash is redirected to it.
pub fn serve_path(method: &Method, headers: &HeaderMap, url_path: &str) -> Response {
    let rel = url_path.trim_start_matches('/');
    let file = if rel.is_empty() || rel.ends_with('/') {
        get(&format!("{rel}index.html"))
    } else {
        get(rel)
    };
    match file {
        Some(f) => respond(method, headers, f),
        None if get(&format!("{rel}/index.html")).is_some() => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("{url_path}/"))],
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `file` for a GET or HEAD (304 when `If-None-Match` names its ETag); 405 for other methods.
pub fn respond(method: &Method, headers: &HeaderMap, file: &'static File) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET,HEAD")],
        )
            .into_response();
    }
    let etag = HeaderValue::from_str(&file.etag).unwrap_or(HeaderValue::from_static("W/\"\""));
    if matches(headers, &file.etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(file.bytes)
    };
    let mut resp = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes.len()));
    resp
}

/// Whether `If-None-Match` holds `*` or `etag` (weak comparison, as RFC 9110 wants for it).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = bare(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == ours)
}

/// The content type of a dashboard file, from its extension.
fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt" | "md") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_is_embedded_without_npm_files() {
        for path in [
            "index.html",
            "docs.html",
            "app.css",
            "js/app.js",
            "js/docs.js",
            "js/player.js",
            super::super::HLS_JS,
        ] {
            assert!(get(path).is_some(), "{path} is embedded");
        }
        assert!(
            FILES.iter().all(|(p, _)| !p.contains("node_modules")
                && *p != "package.json"
                && *p != "package-lock.json"
                && !p.split('/').any(|s| s.starts_with('.'))),
            "{:?}",
            FILES.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        assert_eq!(
            get("js/app.js").map(|f| f.content_type),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            content_type("vendor/hls.js/LICENSE"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("a/b.bin"), "application/octet-stream");
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let mut h = HeaderMap::new();
        assert!(!matches(&h, "W/\"abc\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(matches(&h, "W/\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(matches(&h, "W/\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches(&h, "W/\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"abd\""));
        assert!(!matches(&h, "W/\"abc\""));
    }
}
