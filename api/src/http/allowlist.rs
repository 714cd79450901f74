//! `/v1/ip-allowlist`: the tenant-wide list of addresses allowed to publish (IPv4 and IPv6 CIDRs;
//! empty admits any address). A publish must be admitted by this list and the stream's own.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiContext;
use super::audit;
use super::error::{ApiError, Problem};
use super::extract::{ClientIp, JsonBody, Principal};
use crate::domain::validate::{self, Errors};
use crate::store;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IpAllowlist {
    /// CIDRs or addresses, e.g. `203.0.113.0/24`, `2001:db8::/32`; normalised on save.
    pub ip_allowlist: Vec<String>,
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(get_list, put_list))
}

/// The tenant-wide publish allowlist.
#[utoipa::path(get, path = "/v1/ip-allowlist", tag = "keys", responses((status = 200, body = IpAllowlist)))]
pub async fn get_list(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<axum::Json<IpAllowlist>, ApiError> {
    let ip_allowlist = store::tenants::ip_allowlist(&ctx.db, principal.tenant_id).await?;
    Ok(axum::Json(IpAllowlist { ip_allowlist }))
}

/// Replace the tenant-wide publish allowlist.
#[utoipa::path(put, path = "/v1/ip-allowlist", tag = "keys", request_body = IpAllowlist,
    responses((status = 200, body = IpAllowlist), (status = 422, body = Problem)))]
pub async fn put_list(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ip: ClientIp,
    JsonBody(body): JsonBody<IpAllowlist>,
) -> Result<axum::Json<IpAllowlist>, ApiError> {
    let mut errors = Errors::default();
    let list = validate::ip_allowlist(&mut errors, "ip_allowlist", &body.ip_allowlist);
    ApiError::check(errors)?;
    let mut tx = ctx.db.begin().await?;
    store::tenants::set_ip_allowlist(&mut tx, principal.tenant_id, &list).await?;
    audit::record(
        &mut tx,
        &principal,
        ip,
        "ip_allowlist.updated",
        ("tenant", &principal.tenant_id.to_string()),
        json!({"ip_allowlist": list}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(IpAllowlist { ip_allowlist: list }))
}
