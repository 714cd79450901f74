//! First start of a fresh instance: generate the operator token (unless `INLET_ADMIN_TOKEN` is set)
//! and, for the all-in-one, a default tenant with an admin login and a demo stream, so a newcomer can
//! log in and publish at once. Everything secret is returned to be printed once and stored hashed.

use sqlx::PgPool;

use crate::config::ApiConfig;
use crate::domain::credentials::operator_hash_hex;
use crate::domain::credentials::{self, Kind};
use crate::store;

/// What a first start created; the caller prints it once.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub operator_token: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub demo_stream_key: Option<String>,
}

/// Email of the admin user the all-in-one creates.
pub const ADMIN_EMAIL: &str = "admin@inlet.local";

/// Generates and stores the operator token when none is configured or stored. With `with_admin`
/// (the all-in-one), also creates tenant `default` with an admin user and a demo stream.
pub async fn first_start(
    db: &PgPool,
    config: &ApiConfig,
    with_admin: bool,
) -> anyhow::Result<FirstStart> {
    let mut out = FirstStart::default();
    if config.admin_token.is_none() {
        let token = format!("iop_{}", credentials::random_text(40));
        if store::instance::init_operator_token_hash(db, &operator_hash_hex(&token)).await? {
            out.operator_token = Some(token);
        }
    }
    let fresh: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM tenants)")
        .fetch_one(db)
        .await?;
    if with_admin && fresh {
        let password = credentials::random_text(20);
        let hash = {
            let pw = password.clone();
            tokio::task::spawn_blocking(move || crate::domain::password::hash(&pw)).await??
        };
        let mut tx = db.begin().await?;
        let tenant = store::tenants::insert_tenant(&mut tx, "default").await?;
        store::tenants::insert_user(&mut tx, tenant.id, ADMIN_EMAIL, &hash).await?;
        let limits = store::tenants::default_limits(&mut tx, tenant.id).await?;
        let fields = store::streams::StreamFields {
            name: "demo".into(),
            enabled: true,
            auth_mode: "key".into(),
            limits,
            ip_allowlist: Vec::new(),
            reconnect_window_seconds: 30,
            max_continuous_duration_seconds: 43_200,
            takeover: true,
            recording: false,
        };
        let stream_id =
            store::streams::insert(&mut tx, tenant.id, &fields, &credentials::random_text(24))
                .await?;
        let key = credentials::issue(Kind::StreamKey);
        store::streams::insert_key(&mut tx, tenant.id, stream_id, &key.id, &key.hash).await?;
        tx.commit().await?;
        out.admin_email = Some(ADMIN_EMAIL.into());
        out.admin_password = Some(password);
        out.demo_stream_key = Some(key.full);
    }
    Ok(out)
}
