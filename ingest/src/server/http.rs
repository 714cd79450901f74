//! The ingest's HTTP endpoints: the HLS origin (`/hls/<playback id>/index.m3u8` and its segments),
//! liveness, readiness and Prometheus metrics. The origin serves only names it could have written
//! (a playback id of letters and digits, `index.m3u8`, `seg-<id>-<n>.ts`), so there is no directory
//! listing and no path to escape the HLS directory.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::IngestMetrics;
use crate::hls::sink::PLAYLIST;

#[derive(Clone)]
struct Origin {
    metrics: Arc<IngestMetrics>,
    hls_dir: PathBuf,
}

fn router(origin: Origin) -> Router {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(status("ok")) }))
        .route("/readyz", get(|| async { axum::Json(status("ready")) }))
        .route("/metrics", get(render))
        .route("/hls/{playback_id}/{file}", get(hls))
        .fallback(|| async { not_found() })
        .with_state(origin)
}

fn status(status: &str) -> std::collections::BTreeMap<&'static str, String> {
    std::collections::BTreeMap::from([("status", status.to_string())])
}

async fn render(State(o): State<Origin>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.metrics.render(),
    )
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        "not found\n",
    )
        .into_response()
}

/// What a requested file is, if it is a name the packager writes.
fn kind(file: &str) -> Option<(&'static str, &'static str)> {
    if file == PLAYLIST {
        // Live playlists change every segment: a second of caching at most.
        return Some(("application/vnd.apple.mpegurl", "public, max-age=1"));
    }
    let seg = file.strip_prefix("seg-")?.strip_suffix(".ts")?;
    let (id, n) = seg.split_once('-')?;
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && !n.is_empty()
        && n.len() <= 20
        && n.bytes().all(|b| b.is_ascii_digit());
    // Segment names are never reused (they carry the session), so they can be cached for long.
    ok.then_some(("video/mp2t", "public, max-age=86400, immutable"))
}

async fn hls(
    State(o): State<Origin>,
    Path((playback_id, file)): Path<(String, String)>,
) -> Response {
    let id_ok = !playback_id.is_empty()
        && playback_id.len() <= 64
        && playback_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let Some((content_type, cache)) = kind(&file).filter(|_| id_ok) else {
        return not_found();
    };
    match tokio::fs::read(o.hls_dir.join(&playback_id).join(&file)).await {
        Ok(body) => {
            let mut resp = body.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            resp
        }
        Err(_) => not_found(),
    }
}

/// Serves the ingest's HTTP endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<IngestMetrics>,
    hls_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "inlet-ingest HTTP listening");
    axum::serve(listener, router(Origin { metrics, hls_dir }))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_packager_names_are_served() {
        assert!(super::kind("index.m3u8").is_some());
        assert!(super::kind("seg-a1b2c3d4-17.ts").is_some());
        for bad in [
            "../index.m3u8",
            "seg-../1.ts",
            "seg-a-1.ts.tmp",
            ".index.m3u8.tmp",
            "seg--1.ts",
            "seg-a-.ts",
            "x.ts",
            "",
        ] {
            assert!(super::kind(bad).is_none(), "{bad}");
        }
    }
}
