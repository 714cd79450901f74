//! What the browser tests share: the Chromium to drive, the tools they require (failing with what
//! to install, never skipping), `npm ci` of their fixtures, and running a fixture's Node script
//! for the JSON result it prints.

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
    let mut npm = tokio::process::Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel", "error"])
        .current_dir(dir);
    let out = output_within(&mut npm, Duration::from_secs(300), "npm ci").await;
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

/// Runs `cmd` with stdin closed (killed if the wait is given up) and waits up to `limit` for it to
/// exit; `what` names it in the panic.
pub async fn output_within(
    cmd: &mut tokio::process::Command,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    let out = cmd.stdin(Stdio::null()).kill_on_drop(true).output();
    tokio::time::timeout(limit, out)
        .await
        .unwrap_or_else(|_| panic!("{what} finishes within {limit:?}"))
        .unwrap_or_else(|e| panic!("{what} runs: {e}"))
}

/// What a fixture's Node script left: the last JSON object it printed, how it exited, its stderr.
pub struct ScriptRun {
    pub result: serde_json::Value,
    pub status: std::process::ExitStatus,
    pub stderr: String,
}

/// Runs the Node script `script` of the fixtures in `dir` (with `CHROMIUM` set to ours and the
/// arguments `args` adds) and waits up to `limit`; panics when it printed no JSON object.
pub async fn run_script(
    dir: &Path,
    script: &str,
    limit: Duration,
    args: impl FnOnce(&mut tokio::process::Command),
) -> ScriptRun {
    let mut node = tokio::process::Command::new("node");
    node.arg(dir.join(script))
        .env("CHROMIUM", chromium_path())
        .current_dir(dir);
    args(&mut node);
    let out = output_within(&mut node, limit, script).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let result = match line.map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => panic!("{script} printed no JSON result\nstdout: {stdout}\nstderr: {stderr}"),
    };
    ScriptRun {
        result,
        status: out.status,
        stderr: stderr.into_owned(),
    }
}

/// Asserts that a fixture's script passed: every step `ok`, no `error`, no console or uncaught page
/// error, nothing in any of the lists `also_empty` names, `ok: true` and exit status 0. The result
/// is printed first, for the test's output.
pub fn assert_passed(run: &ScriptRun, script: &str, also_empty: &[&str]) {
    let result = &run.result;
    println!(
        "{}",
        serde_json::to_string_pretty(result).unwrap_or_default()
    );
    let failed: Vec<&serde_json::Value> = result["steps"]
        .as_array()
        .map(|steps| steps.iter().filter(|s| s["ok"] != true).collect())
        .unwrap_or_default();
    assert!(
        failed.is_empty() && result["error"].is_null(),
        "{script}: failed steps: {failed:#?}\nerror: {}\nstderr: {}",
        result["error"],
        run.stderr
    );
    for list in ["consoleErrors", "pageErrors"].iter().chain(also_empty) {
        assert_eq!(
            result[list].as_array().map(Vec::len),
            Some(0),
            "{script}: {list}: {}",
            result[list]
        );
    }
    assert!(
        result["ok"] == true && run.status.success(),
        "{script} failed: {result}"
    );
}

/// Runs `node --test <file>` in `dir` (a fixture's unit tests of the dashboard's pure modules) and
/// panics with its output when a test fails.
pub fn node_test(dir: &Path, file: &str) {
    let out = std::process::Command::new("node")
        .args(["--test", file])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node --test {file} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
