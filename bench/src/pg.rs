//! The benchmarks' own PostgreSQL: a private cluster (`inlet-pgcluster`) under the temp directory,
//! stopped and removed by a watchdog once the benchmark process has exited (also when it is
//! killed), and a short-lived connection for the few statements a benchmark runs itself.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use inlet_pgcluster::{Cluster, ClusterOptions};

/// Options for a fresh cluster in `<temp>/<prefix>-<pid>-<nanos>`; fsync and synchronous commit
/// off unless `fsync` (as in the test suite).
pub fn temp_options(prefix: &str, fsync: bool) -> ClusterOptions {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    ClusterOptions {
        data_dir: std::env::temp_dir().join(format!("{prefix}-{}-{nanos:09}", std::process::id())),
        port: None,
        fsync,
        superuser: "inlet".into(),
    }
}

/// Starts the cluster of `opts` and arranges for it to be stopped and removed after this process.
pub fn start(opts: &ClusterOptions) -> anyhow::Result<Cluster> {
    eprintln!(
        "starting a private PostgreSQL in {}",
        opts.data_dir.display()
    );
    let cluster = Cluster::start(opts.clone()).with_context(|| {
        format!(
            "could not start a private PostgreSQL in {}",
            opts.data_dir.display()
        )
    })?;
    if let Err(e) = cluster.stop_when_process_exits(true) {
        eprintln!(
            "warning: {} will not be removed after exit: {e}",
            opts.data_dir.display()
        );
    }
    Ok(cluster)
}

/// Runs `sql` (one or more statements, no parameters) once on a connection of its own.
pub async fn execute(db_url: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db_url)
        .await
        .context("could not connect to PostgreSQL")?;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .with_context(|| format!("could not run {sql:?}"))?;
    conn.close().await?;
    Ok(())
}

/// `SHOW server_version`.
pub async fn server_version(db_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    let v = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(v)
}

/// Loads pg_stat_statements (`shared_preload_libraries`, so the cluster is restarted once).
pub async fn enable_pg_stat_statements(
    cluster: &mut Cluster,
    opts: &ClusterOptions,
) -> anyhow::Result<()> {
    execute(
        &cluster.url("postgres"),
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
    )
    .await?;
    cluster.stop().context("could not restart PostgreSQL")?;
    *cluster = Cluster::start(opts.clone()).context("could not restart PostgreSQL")?;
    Ok(())
}

/// A connection to `db_url` for reading pg_stat_statements (the extension is created in it).
pub async fn stats_pool(db_url: &str) -> anyhow::Result<sqlx::PgPool> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await
        .context("could not connect for pg_stat_statements")?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&pool)
        .await
        .context("could not create the pg_stat_statements extension")?;
    Ok(pool)
}

/// Forgets the statistics so far.
pub async fn reset_statements(db: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(db)
        .await?;
    Ok(())
}

/// One statement's execution inside PostgreSQL, from pg_stat_statements.
pub struct Statement {
    /// Normalized, whitespace collapsed.
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
}

/// The database's 8 statements with the most execution time since the last reset.
pub async fn statements(db: &sqlx::PgPool) -> anyhow::Result<Vec<Statement>> {
    let rows: Vec<(String, i64, f64, f64, f64)> = sqlx::query_as(
        "SELECT s.query, s.calls, s.mean_exec_time, s.max_exec_time, s.total_exec_time
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
         ORDER BY s.total_exec_time DESC LIMIT 8",
    )
    .fetch_all(db)
    .await
    .context("could not read pg_stat_statements")?;
    Ok(rows
        .into_iter()
        .map(|(query, calls, mean_ms, max_ms, total_ms)| Statement {
            query: query.split_whitespace().collect::<Vec<_>>().join(" "),
            calls,
            mean_ms,
            max_ms,
            total_ms,
        })
        .collect())
}

/// A Markdown table of `statements` (each query cut to `width` characters).
pub fn statements_table(out: &mut String, statements: &[Statement], width: usize) {
    use std::fmt::Write;
    let _ = writeln!(out, "| statement | calls | mean ms | max ms | total ms |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for st in statements {
        let q: String = st.query.chars().take(width).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.3} | {:.2} | {:.0} |",
            q.replace('|', "\\|"),
            st.calls,
            st.mean_ms,
            st.max_ms,
            st.total_ms
        );
    }
}
