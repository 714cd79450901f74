//! Start, stop, restart and stop a real cluster in a temporary directory.

use std::path::{Path, PathBuf};

use inlet_pgcluster::{Cluster, ClusterOptions};
use rand::Rng;
use rand::distr::Alphanumeric;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

fn temp_data_dir() -> PathBuf {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    std::env::temp_dir().join(format!(
        "inlet-pgcluster-test-{}-{}",
        std::process::id(),
        suffix.to_lowercase()
    ))
}

fn options(data_dir: &Path) -> ClusterOptions {
    ClusterOptions {
        data_dir: data_dir.to_path_buf(),
        port: None,
        fsync: false,
        superuser: "inlet".to_string(),
    }
}

/// Postgres processes whose command line mentions `data_dir`.
fn postgres_processes_for(data_dir: &Path) -> Vec<String> {
    let needle = data_dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains("postgres") && cmdline.contains(&needle))
        // The cleanup watchdog's shell mentions the data dir too; it is not a server.
        .filter(|cmdline| !cmdline.starts_with("sh ") && !cmdline.contains("kill -0"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn start_stop_restart_reuses_port_password_and_data() {
    let data_dir = temp_data_dir();

    // First start: initdb, pick and persist a port.
    let opts = options(&data_dir);
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(opts))
        .await
        .expect("cluster")
        .expect("cluster");
    // Safety net when an assertion below fails: stop and remove everything later.
    cluster.stop_when_process_exits(true).expect("cluster");
    assert!(cluster.is_running().expect("cluster"));
    let port = cluster.port();
    let url = cluster.url("postgres");
    assert!(url.starts_with("postgres://inlet:"));
    assert!(url.ends_with(&format!("@127.0.0.1:{port}/postgres")));

    let password =
        std::fs::read_to_string(format!("{}.password", data_dir.display())).expect("cluster");
    assert_eq!(password.trim().len(), 32);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(format!("{}.password", data_dir.display()))
            .expect("cluster")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let mut conn = PgConnection::connect(&url).await.expect("cluster");
    sqlx::query("CREATE TABLE survives_restart (id int)")
        .execute(&mut conn)
        .await
        .expect("cluster");
    sqlx::query("INSERT INTO survives_restart VALUES (42)")
        .execute(&mut conn)
        .await
        .expect("cluster");
    let max_connections: String = sqlx::query_scalar("SHOW max_connections")
        .fetch_one(&mut conn)
        .await
        .expect("cluster");
    assert_eq!(max_connections, "200");
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut conn)
        .await
        .expect("cluster");
    assert_eq!(fsync, "off");
    conn.close().await.expect("cluster");

    let stopper = cluster.clone();
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .expect("cluster")
        .expect("cluster");
    assert!(!cluster.is_running().expect("cluster"));
    // Idempotent.
    cluster.stop().expect("cluster");

    // Second start: reuse the persisted port, password and data.
    let opts = options(&data_dir);
    let again = tokio::task::spawn_blocking(move || Cluster::start(opts))
        .await
        .expect("cluster")
        .expect("cluster");
    assert_eq!(again.port(), port);
    assert_eq!(again.url("postgres"), url);

    // Starting while it is running reuses the running server.
    let opts = options(&data_dir);
    let third = tokio::task::spawn_blocking(move || Cluster::start(opts))
        .await
        .expect("cluster")
        .expect("cluster");
    assert_eq!(third.port(), port);

    let mut conn = PgConnection::connect(&again.url("postgres"))
        .await
        .expect("cluster");
    let value: i32 = sqlx::query_scalar("SELECT id FROM survives_restart")
        .fetch_one(&mut conn)
        .await
        .expect("cluster");
    assert_eq!(value, 42);
    conn.close().await.expect("cluster");

    let stopper = again.clone();
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .expect("cluster")
        .expect("cluster");
    assert!(!again.is_running().expect("cluster"));
    assert!(!data_dir.join("postmaster.pid").exists());
    assert_eq!(postgres_processes_for(&data_dir), Vec::<String>::new());

    for path in [
        data_dir.clone(),
        PathBuf::from(format!("{}.password", data_dir.display())),
        PathBuf::from(format!("{}.log", data_dir.display())),
    ] {
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}
