//! The API's one error type. Every failure a handler can meet maps to an RFC 9457 problem+json answer;
//! internal errors are logged with their cause and answered with a generic 500 that leaks nothing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::validate::{Errors, FieldError};

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Unknown id, or an id of another tenant: indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    /// No route answers this path.
    #[error("no route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error("The request took too long and was abandoned.")]
    Timeout,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
}

/// The problem+json body (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field-level problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// A 422 naming one field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            detail: detail.into(),
        }])
    }

    /// `Ok` when no field failed, else a 422 naming all of them.
    pub fn check(errors: Errors) -> Result<(), ApiError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors.0))
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            NoRoute => (StatusCode::NOT_FOUND, "no-route", "No such route"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad-request", "Malformed request"),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request fields",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
            ),
            Internal(_) | Sqlx(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "The server could not complete the request; it has been logged.".to_string()
            }
            ApiError::Sqlx(e) => {
                tracing::error!(error = %e, "database error");
                "The server could not complete the request; it has been logged.".to_string()
            }
            ApiError::NotFound => "No such resource.".to_string(),
            ApiError::NoRoute => "No route answers this path.".to_string(),
            ApiError::MethodNotAllowed => "This route does not answer this method.".to_string(),
            ApiError::Validation(errs) => errs
                .iter()
                .map(|e| format!("{}: {}", e.field, e.detail))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::RateLimited { retry_after_secs } => {
                format!("Rate limit exceeded; retry after {retry_after_secs} s.")
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(ref e) => e.clone(),
            ApiError::BadRequest { ref errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let body = Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let ApiError::RateLimited { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Turns unique-constraint violations into a 409 naming the conflicting thing.
pub trait OnConstraint<T> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> ApiError) -> Result<T, ApiError>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> ApiError) -> Result<T, ApiError> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some(name) => f(),
            _ => ApiError::Sqlx(e),
        })
    }
}
