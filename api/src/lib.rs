//! Inlet's control plane (`inlet-api`): REST API, dashboard, webhooks and metrics over PostgreSQL.
//! `serve` runs it on a listener until a shutdown signal, with its background workers (`worker`)
//! beside it; `connect` opens and migrates the database; `bootstrap` performs the first-start
//! set-up of a fresh instance. Layers: `http` (handlers) and `worker` use `store` (SQL) and
//! `domain` (rules); neither of those imports `http`.

pub mod authorize;
pub mod bootstrap;
pub mod config;
pub mod context;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod store;
pub mod worker;

use std::future::Future;
use std::net::SocketAddr;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub use config::ApiConfig;

/// The schema migrations, embedded at build time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects to the database (retrying for up to `wait`) and runs pending migrations.
pub async fn connect(
    url: &str,
    max_connections: u32,
    wait: std::time::Duration,
) -> anyhow::Result<PgPool> {
    let deadline = tokio::time::Instant::now() + wait;
    let pool = loop {
        match PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
        {
            Ok(pool) => break pool,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("cannot connect to the database: {e}")),
        }
    };
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    Ok(pool)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    db: PgPool,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (app, ctx) = http::app_with_context(db, config);
    let workers = worker::start(&ctx);
    tracing::info!(addr = %listener.local_addr()?, "inlet-api listening");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // In-flight webhook sends finish (bounded by their timeout) before the process ends.
    workers
        .drain(std::time::Duration::from_secs(
            ctx.config.webhook_timeout_secs + 5,
        ))
        .await;
    served?;
    Ok(())
}

/// Creates database `name` through a maintenance connection (`admin_url`, usually the `postgres`
/// database) when it does not exist yet.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}
