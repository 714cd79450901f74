//! docker-compose.yml is safe by default (docs/operations.md, "Docker Compose"): no secret has a
//! built-in default (each is `${NAME:?...}`, so compose refuses to start without it), every
//! published port listens on 127.0.0.1 unless `INLET_BIND_ADDRESS` says otherwise, and the file
//! parses. The containers cannot be run here (no Docker daemon); where a compose implementation is
//! installed (`docker compose` or Debian's `docker-compose`, which `.ci/run` installs), it checks
//! the file: `config` fails without the secrets and succeeds with them.

use std::path::PathBuf;
use std::process::Command;

fn compose_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")
}

const SECRETS: &[&str] = &[
    "POSTGRES_PASSWORD",
    "INLET_ADMIN_TOKEN",
    "INLET_NODE_SECRET",
    "INLET_SECRET_KEY",
];

#[test]
fn secrets_have_no_defaults_and_ports_are_local_by_default() {
    let text = std::fs::read_to_string(compose_file()).expect("docker-compose.yml");
    for secret in SECRETS {
        assert!(
            text.contains(&format!("${{{secret}:?")),
            "{secret} must be required (${{{secret}:?...}})"
        );
        assert!(
            !text.contains(&format!("${{{secret}:-")),
            "{secret} must have no default"
        );
    }
    assert!(!text.to_lowercase().contains("change-me"));
    let mut ports = 0;
    let mut in_ports = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if t == "ports:" {
            in_ports = true;
            continue;
        }
        if in_ports && t.starts_with("- ") {
            ports += 1;
            assert!(
                t.starts_with("- \"${INLET_BIND_ADDRESS:-127.0.0.1}:"),
                "published port not bound to 127.0.0.1 by default: {t}"
            );
        } else {
            in_ports = false;
        }
    }
    assert_eq!(ports, 4, "API, RTMP, RTMPS and HLS are published");
}

/// The compose command available here, if any.
fn compose() -> Option<Vec<&'static str>> {
    let works = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker", "compose"]) {
        Some(vec!["docker", "compose"])
    } else if works(&["docker-compose"]) {
        Some(vec!["docker-compose"])
    } else {
        None
    }
}

#[test]
fn compose_refuses_to_start_without_the_secrets_and_parses_with_them() {
    let Some(cmd) = compose() else {
        eprintln!("no docker compose or docker-compose here: only the text checks ran");
        return;
    };
    let run = |with_secrets: bool| {
        let mut c = Command::new(cmd[0]);
        c.args(&cmd[1..])
            .arg("-f")
            .arg(compose_file())
            .arg("config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        if with_secrets {
            for s in SECRETS {
                c.env(s, "x1y2z3");
            }
        }
        c.output().expect("compose runs")
    };
    let refused = run(false);
    assert!(
        !refused.status.success(),
        "compose must refuse without secrets"
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("POSTGRES_PASSWORD") || said.contains("INLET_"),
        "{said}"
    );
    let ok = run(true);
    assert!(
        ok.status.success(),
        "compose config: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let rendered = String::from_utf8_lossy(&ok.stdout);
    assert!(rendered.contains("127.0.0.1"), "{rendered}");
}
