//! Request extractors: a JSON body that reports exactly which field is wrong, the authenticated
//! principal, the client address, and cursor pagination.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ApiError;
use crate::domain::role::Role;
use crate::domain::validate::FieldError;
pub use crate::store::cursor::Cursor;

/// A JSON request body. Wrong content type → 415; syntax error → 400; unknown field, missing field
/// or wrong type → 422 naming the field (dotted path).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Send the body as JSON with `Content-Type: application/json`.".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("The request body is too large.".into())
            } else {
                ApiError::BadRequest {
                    detail: format!("Could not read the request body: {e}"),
                    errors: Vec::new(),
                }
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be omitted entirely (no body, no content type): then `T::default()`.
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let h = req.headers();
        let no_body = h
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
            && !h.contains_key(header::TRANSFER_ENCODING);
        if no_body && !h.contains_key(header::CONTENT_TYPE) {
            return Ok(JsonOrEmpty(T::default()));
        }
        JsonBody::<T>::from_request(req, state)
            .await
            .map(|JsonBody(v)| JsonOrEmpty(v))
    }
}

/// Parses JSON into `T`, turning serde's errors into problems that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let msg = inner.to_string();
            // serde_json reports the position; the field path is what a client needs.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => Err(ApiError::BadRequest {
                    detail: format!("The body is not valid JSON: {msg}."),
                    errors: Vec::new(),
                }),
                Category::Data => {
                    let field = field_name(&path, &msg);
                    Err(ApiError::Validation(vec![FieldError {
                        field,
                        detail: msg,
                    }]))
                }
            }
        }
    }
}

/// The field a serde data error is about: the unknown or missing field's own name when the message
/// carries it, under the path where it occurred.
fn field_name(path: &str, msg: &str) -> String {
    let quoted = |prefix: &str| {
        msg.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let named = quoted("unknown field `").or_else(|| quoted("missing field `"));
    let base = if path == "." { "" } else { path };
    match named {
        Some(name) if base.is_empty() => name,
        Some(name) => {
            if base.ends_with(&name) {
                base.to_string()
            } else {
                format!("{base}.{name}")
            }
        }
        None if base.is_empty() => "body".to_string(),
        None => base.to_string(),
    }
}

/// Query parameters; a bad value answers 422 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(QueryParams)
            .map_err(|err| {
                let path = err.path().to_string();
                let msg = err.into_inner().to_string();
                ApiError::Validation(vec![FieldError {
                    field: field_name(&path, &msg),
                    detail: msg,
                }])
            })
    }
}

/// Who is calling: resolved by the auth middleware from a bearer API token or a session cookie.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub actor: Actor,
    /// What the caller may do: a session's user's role now, or the token's stored role. The auth
    /// middleware refuses writes of a `viewer` (`auth::role_allows`).
    pub role: Role,
}

#[derive(Clone, Debug)]
pub enum Actor {
    ApiToken {
        token_id: String,
        /// The user the token was created by (directly, or through another of their tokens).
        created_by: Option<Uuid>,
    },
    User {
        user_id: Uuid,
        session_id: String,
        csrf_token: String,
    },
}

impl Principal {
    /// A short description of the actor for logs and audit (never a secret).
    pub fn describe(&self) -> String {
        match &self.actor {
            Actor::ApiToken { token_id, .. } => format!("token:{token_id}"),
            Actor::User { user_id, .. } => format!("user:{user_id}"),
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::User { user_id, .. } => Some(*user_id),
            Actor::ApiToken { .. } => None,
        }
    }

    /// The person behind the call: the session's user, or the user who created the token.
    pub fn person(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::User { user_id, .. } => Some(*user_id),
            Actor::ApiToken { created_by, .. } => *created_by,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("Authentication required.".into()))
    }
}

/// The client's address (the TCP peer), when the server was started with connect info.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn from_extensions(ext: &axum::http::Extensions) -> ClientIp {
        ClientIp(
            ext.get::<ConnectInfo<SocketAddr>>()
                .map(|ci| ci.0.ip().to_canonical()),
        )
    }

    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_extensions(&parts.extensions))
    }
}

/// `?limit=&cursor=` of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1..=100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(i64::from(Self::DEFAULT_LIMIT)),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(i64::from(n)),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 100")),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        let Some(raw) = &self.cursor else {
            return Ok(None);
        };
        Cursor::decode(raw)
            .map(Some)
            .ok_or_else(|| ApiError::field("cursor", "is not a cursor returned by this API"))
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only tells that there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next_cursor = if more { rows.last().map(key) } else { None };
        Page {
            data: rows,
            next_cursor,
        }
    }
}

/// Parses a path id; anything that is not an id answers 404, like an unknown id.
pub fn path_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    fn field_of(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation(e)) => e[0].field.clone(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field_of(r#"{"name": 1}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "bogus": 1}"#), "bogus");
        assert_eq!(field_of(r#"{}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "inner": {"n": -1}}"#), "inner.n");
        assert_eq!(field_of(r#"{"name": "a", "inner": {"m": 1}}"#), "inner.m");
        assert!(matches!(
            parse_json::<Body>(b"{not json"),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
