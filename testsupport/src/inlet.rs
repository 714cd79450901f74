//! The all-in-one `inlet` as a black box, for the root package's tests that start the real binary:
//! free ports, a temporary directory, a quiet command, the first-start banner's credentials, and a
//! clean stop on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A directory under the system temp dir, emptied on creation and removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `<temp>/<prefix>-<pid>`, absent (not created).
    pub fn fresh(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `inlet` at `bin` with nothing inherited that changes its first start (no `DATABASE_URL`, no
/// operator token, no extra media origins), warnings-only logs, stdout piped for the banner, and
/// killed if the test drops it.
pub fn command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    for var in [
        "DATABASE_URL",
        "INLET_ADMIN_TOKEN",
        "INLET_DASHBOARD_MEDIA_ORIGINS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// What the first-start banner printed once.
pub struct FirstStart {
    pub email: String,
    pub password: String,
    /// The stream key of `demo`.
    pub stream_key: String,
}

/// Reads the first-start banner from `child`'s stdout (up to the demo stream's key, within 90 s),
/// then keeps draining stdout so the process never blocks on a full pipe.
pub async fn read_first_start(child: &mut Child) -> FirstStart {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut login = None;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("Admin login:") {
                login = rest
                    .trim()
                    .split_once(" / ")
                    .map(|(e, p)| (e.to_string(), p.to_string()));
            }
            if let Some(key) = line.strip_prefix("Stream Key:") {
                return key.trim().to_string();
            }
        }
        panic!("inlet exited before printing its first-start banner");
    };
    let stream_key = tokio::time::timeout(Duration::from_secs(90), read)
        .await
        .expect("banner within 90 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (email, password) = login.expect("the banner prints the admin login");
    FirstStart {
        email,
        password,
        stream_key,
    }
}

/// Sends SIGTERM and asserts that `inlet` exits 0 within 60 s.
pub async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let exit = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(s)) if s.success()),
        "inlet exits 0 on SIGTERM: {exit:?}"
    );
}
