//! The HTTP surface of the control plane: builds the router from one module per resource, the shared
//! `ApiContext`, and the middleware stack (request ids, tracing, timeouts, compression, optional CORS,
//! metrics, authentication, rate limits, idempotency). The OpenAPI document is generated from the same
//! route registrations, so it cannot drift from the handlers.

pub mod admin;
pub mod allowlist;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod internal;
pub mod keys;
pub mod login;
pub mod members;
pub mod metrics;
pub mod publish_tokens;
pub mod sessions;
pub mod stats;
pub mod streams;
pub mod views;
pub mod web;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ApiConfig;
pub use crate::context::ApiContext;
use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Inlet API", description = "Managed live-video ingest: streams, keys, publish authorization, events and webhooks."),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = [])),
    tags((name = "streams"), (name = "stats"), (name = "keys"), (name = "api-tokens"), (name = "members"), (name = "audit"), (name = "webhooks"), (name = "events"), (name = "auth"), (name = "admin"), (name = "meta"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The public routes and their OpenAPI document, before state and layers.
pub fn api_routes() -> (Router<ApiContext>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(tenant_routes())
        .merge(public_routes())
        .merge(admin::router())
        .split_for_parts()
}

fn tenant_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(login::router())
        .merge(api_tokens::router())
        .merge(members::router())
        .merge(streams::router())
        .merge(sessions::router())
        .merge(stats::router())
        .merge(keys::router())
        .merge(publish_tokens::router())
        .merge(allowlist::router())
        .merge(audit::router())
        .merge(webhooks::router())
        .merge(events::router())
}

fn public_routes() -> OpenApiRouter<ApiContext> {
    login::public_router()
        .merge(members::public_router())
        .routes(routes!(health::openapi))
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    api_routes().1.to_pretty_json().unwrap_or_default()
}

/// Builds the complete application for a database and configuration.
pub fn app(db: PgPool, config: ApiConfig) -> Router {
    app_with_context(db, config).0
}

/// The application and its shared context (for background tasks).
pub fn app_with_context(db: PgPool, config: ApiConfig) -> (Router, ApiContext) {
    let ctx = ApiContext::new(db, config);
    let config = ctx.config.clone();

    // Each route group gets its own guard; layers apply only to the routes of their group.
    let (tenant, _) = OpenApiRouter::new()
        .merge(tenant_routes())
        .layer(from_fn_with_state(ctx.clone(), idempotency::middleware))
        .layer(from_fn_with_state(ctx.clone(), auth::require_principal))
        .split_for_parts();
    let (public, _) = public_routes()
        .layer(from_fn_with_state(ctx.clone(), auth::limit_by_ip))
        .split_for_parts();
    let (admin, _) = admin::router()
        .layer(from_fn_with_state(ctx.clone(), idempotency::middleware))
        .layer(from_fn_with_state(ctx.clone(), auth::require_operator))
        .split_for_parts();

    let web = web::service(&config);
    let mut router = Router::new()
        .merge(tenant)
        .merge(public)
        .merge(admin)
        .merge(internal::router(ctx.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/v1/{*rest}", any(no_route))
        .route("/admin/{*rest}", any(no_route))
        .route("/internal/{*rest}", any(no_route))
        .fallback_service(web)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(from_fn_with_state(ctx.metrics.clone(), metrics::track))
        .with_state(ctx.clone());

    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PATCH,
                    Method::PUT,
                    Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                    HeaderName::from_static(idempotency::HEADER),
                ]),
        );
    }
    let request_id = HeaderName::from_static("x-request-id");
    let router = router
        .layer(map_response(timeout_as_problem))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    (router, ctx)
}

async fn no_route() -> ApiError {
    ApiError::NoRoute
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The timeout layer answers an empty 503; give it a problem body like every other error.
async fn timeout_as_problem(resp: Response) -> Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && resp.headers().get("content-type").is_none()
    {
        return ApiError::Timeout.into_response();
    }
    resp
}
