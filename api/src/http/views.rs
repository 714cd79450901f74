//! JSON shapes of the public API (docs/api.md). Fields may be added, never renamed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::credentials::{self, Kind};
use crate::domain::role::Role;
use crate::store::api_tokens::TokenRow;
use crate::store::tenants::{TenantRow, UserRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRow> for TenantView {
    fn from(r: TenantRow) -> Self {
        TenantView {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        UserView {
            id: r.id,
            role: Role::from_db(&r.role),
            email: r.email,
            created_at: r.created_at,
        }
    }
}

/// A member of the tenant's team.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// `invited` until the member has set a password through their reset link, then `active`.
    #[schema(example = "active")]
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for MemberView {
    fn from(r: UserRow) -> Self {
        MemberView {
            id: r.id,
            role: Role::from_db(&r.role),
            status: if r.password_hash.is_some() {
                "active"
            } else {
                "invited"
            },
            email: r.email,
            created_at: r.created_at,
        }
    }
}

/// An API token as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    /// The public start of the token, e.g. `inlet_AbCdEfGhIj`.
    pub prefix: String,
    /// The role the token acts with: its creator's when it was created, lowered if they were.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiTokenView {
    fn from(r: TokenRow) -> Self {
        ApiTokenView {
            prefix: credentials::prefix(Kind::ApiToken, &r.id),
            role: Role::from_db(&r.role),
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A just-created API token: `token` is the full secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub token: String,
}

/// `POST /admin/v1/tenants` and `POST /v1/auth/signup` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant: TenantView,
    pub owner: UserView,
    pub api_token: CreatedApiToken,
}
