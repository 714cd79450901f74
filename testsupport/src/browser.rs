//! What the browser tests share: the Chromium to drive, the tools they require (failing with what
//! to install, never skipping), and `npm ci` of their fixtures.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Debian's Chromium, or `CHROMIUM`.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn runs(tool: &str, arg: &str) -> bool {
    std::process::Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Panics with what to install when Node.js (20 or newer), npm, Chromium or ffmpeg is missing.
/// `fixtures` names the directory whose `node_modules` npm will install (for the message).
pub fn require_tools(fixtures: &str) {
    let node = std::process::Command::new("node").arg("--version").output();
    let version = match node {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => panic!(
            "this test needs Node.js 20 or newer (`node` on PATH) to drive Chromium; install it \
             (e.g. from NodeSource: Debian 12's nodejs is 18)"
        ),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "this test needs Node.js 20 or newer (playwright-core requires it); found {version}"
    );
    assert!(
        runs("npm", "--version"),
        "this test needs npm (to install {fixtures})"
    );
    let chromium = chromium_path();
    assert!(
        chromium.is_file(),
        "this test needs Chromium at {} (set CHROMIUM to use another binary); on Debian or \
         Ubuntu: `apt install chromium` (.ci/run installs it)",
        chromium.display()
    );
    assert!(
        runs("ffmpeg", "-version"),
        "this test needs ffmpeg (`apt install ffmpeg`; .ci/run installs it)"
    );
}

/// `npm ci` in `dir` (from its lock file) unless every one of `markers` (files under it) is there.
pub async fn ensure_node_modules(dir: &Path, markers: &[&str]) {
    if markers.iter().all(|m| dir.join(m).is_file()) {
        return;
    }
    let out = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel", "error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("npm ci finishes in 5 minutes")
        .expect("npm runs");
    assert!(
        out.status.success(),
        "`npm ci` in {} failed (it needs the npm registry):\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for m in markers {
        assert!(dir.join(m).is_file(), "npm ci installed {m}");
    }
}
