//! The internal API the ingest calls (`/internal/v1`, SPEC §5), authenticated with the node secret
//! (`Authorization: Bearer <INLET_NODE_SECRET>`, compared in constant time). Not part of the public
//! OpenAPI document.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use inlet_contract::publish::{AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse};

use super::ApiContext;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::domain::credentials;

pub fn router(ctx: ApiContext) -> Router<ApiContext> {
    Router::new()
        .route(AUTHORIZE_PATH, post(authorize))
        .layer(from_fn_with_state(ctx, require_node))
}

async fn require_node(State(ctx): State<ApiContext>, req: Request, next: Next) -> Response {
    let Some(secret) = ctx.config.node_secret.as_deref() else {
        return ApiError::Forbidden(
            "The internal API is off: INLET_NODE_SECRET is not set on the API.".into(),
        )
        .into_response();
    };
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| credentials::ct_eq_str(p, secret)) {
        return ApiError::Unauthorized(
            "Internal calls need `Authorization: Bearer <INLET_NODE_SECRET>`.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

async fn authorize(
    State(ctx): State<ApiContext>,
    JsonBody(req): JsonBody<AuthorizeRequest>,
) -> Result<axum::Json<AuthorizeResponse>, ApiError> {
    Ok(axum::Json(crate::authorize::authorize(&ctx, &req).await?))
}
