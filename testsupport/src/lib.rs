//! Test support: a fresh, empty PostgreSQL database for each test.
//!
//! This crate owns where test databases come from. When `DATABASE_URL` is set,
//! databases are created on that server. Otherwise a private throwaway
//! cluster (see `inlet-pgcluster`) is started once per test process, in a new
//! directory under [`std::env::temp_dir`], with fsync off; it is stopped and
//! removed by a watchdog once the test process has exited.
//!
//! Only for tests: failures panic with a message saying what went wrong. `browser` holds what the
//! browser tests share (the Chromium to drive, the tools they require, `npm ci` of fixtures);
//! `inlet` what the tests that start the real all-in-one binary share.

pub mod browser;
pub mod inlet;
pub mod receiver;

use std::sync::OnceLock;
use std::time::Duration;

use inlet_pgcluster::{Cluster, ClusterOptions};
use rand::Rng;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};

/// The superuser of the private test cluster.
const TEST_SUPERUSER: &str = "inlet";

/// The server test databases are created on.
enum Server {
    /// From `DATABASE_URL`; its path is replaced by each database name.
    External(url::Url),
    /// The private cluster of this test process.
    Private(Cluster),
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The process-wide server, set up on first use (blocking; runs once even
/// when many tests ask at the same time).
fn server() -> &'static Server {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(raw) if !raw.trim().is_empty() => {
            let url = url::Url::parse(raw.trim()).unwrap_or_else(|e| {
                panic!("DATABASE_URL is not a valid URL ({e}); expected postgres://user:password@host:port/database")
            });
            Server::External(url)
        }
        _ => Server::Private(start_private_cluster()),
    })
}

fn start_private_cluster() -> Cluster {
    let data_dir = std::env::temp_dir().join(format!(
        "inlet-test-pg-{}-{}",
        std::process::id(),
        random_lowercase(8)
    ));
    let cluster = Cluster::start(ClusterOptions {
        data_dir: data_dir.clone(),
        port: None,
        fsync: false,
        superuser: TEST_SUPERUSER.to_string(),
    })
    .unwrap_or_else(|e| {
        panic!(
            "could not start a private PostgreSQL cluster for tests in {}: {e}",
            data_dir.display()
        )
    });
    if let Err(e) = cluster.stop_when_process_exits(true) {
        // Not fatal for the tests, but the cluster will outlive them.
        eprintln!(
            "warning: the test PostgreSQL cluster in {} will not be cleaned up: {e}",
            data_dir.display()
        );
    }
    cluster
}

/// `n` random characters from `a`-`z`.
fn random_lowercase(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect()
}

/// The server-level URL for a database name (used by tests that start the
/// `inlet` binary with `DATABASE_URL`).
///
/// With `DATABASE_URL` set, that URL with its database (path) replaced;
/// credentials, host, port and query string are kept.
pub fn server_url(database: &str) -> String {
    match server() {
        Server::External(url) => with_database(url, database),
        Server::Private(cluster) => cluster.url(database),
    }
}

fn with_database(url: &url::Url, database: &str) -> String {
    let mut url = url.clone();
    if url.cannot_be_a_base() {
        panic!("DATABASE_URL {url} cannot have a database path");
    }
    // Clearing the segments and pushing one gives "/<database>", percent-encoded.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.clear().push(database);
    }
    url.to_string()
}

/// A fresh, empty database for one test.
///
/// When `DATABASE_URL` is set, databases are created on that server;
/// otherwise on a private throwaway cluster started once per test process.
/// Databases are not dropped afterwards (the private cluster is removed as a
/// whole when the test process exits).
#[derive(Debug, Clone)]
pub struct TestDb {
    /// The URL of this database.
    pub url: String,
    /// The database name, `test_<12 random lowercase letters>`.
    pub name: String,
}

impl TestDb {
    /// Creates a database with a unique name, connecting to the server's
    /// `postgres` database.
    ///
    /// # Panics
    ///
    /// When no server can be reached or the database cannot be created.
    pub async fn new() -> TestDb {
        let admin_url = server_url("postgres");
        let name = format!("test_{}", random_lowercase(12));
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("could not connect to the test PostgreSQL server: {e}"));
        let statement = format!("CREATE DATABASE \"{name}\"");
        let mut attempt = 0;
        loop {
            attempt += 1;
            match sqlx::query(&statement).execute(&mut conn).await {
                Ok(_) => break,
                // "source database template1 is being accessed by other users":
                // a concurrent CREATE DATABASE; retry shortly.
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("55006") && attempt < 20 =>
                {
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => panic!("could not create test database {name}: {e}"),
            }
        }
        let _ = conn.close().await;
        TestDb {
            url: server_url(&name),
            name,
        }
    }

    /// A connection pool to this database (at most 5 connections).
    ///
    /// # Panics
    ///
    /// When the database cannot be reached.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("could not connect to test database {}: {e}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_database_and_keeps_query() {
        let url = url::Url::parse("postgres://u:p%40ss@db.example:5433/app?sslmode=disable")
            .expect("url");
        assert_eq!(
            with_database(&url, "test_abc"),
            "postgres://u:p%40ss@db.example:5433/test_abc?sslmode=disable"
        );
        let bare = url::Url::parse("postgres://u@localhost").expect("url");
        assert_eq!(with_database(&bare, "x"), "postgres://u@localhost/x");
    }

    #[test]
    fn random_names_are_lowercase() {
        let s = random_lowercase(12);
        assert_eq!(s.len(), 12);
        assert!(s.bytes().all(|b| b.is_ascii_lowercase()));
    }
}
