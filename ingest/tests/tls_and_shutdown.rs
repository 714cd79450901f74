//! RTMPS certificate hot reload and graceful shutdown, against the in-process ingest with a real API.

mod common;

use std::time::Duration;

use common::{Stack, ffmpeg_publish};

/// The subject CN the RTMPS port presents for an SNI name, as `openssl s_client` sees it.
async fn served_cn(addr: std::net::SocketAddr, sni: &str) -> String {
    let out = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            sni,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("subject=").map(str::to_string))
        .unwrap_or_else(|| panic!("no subject in s_client output: {text}"))
}

fn write_cert(dir: &std::path::Path, cn: &str) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    // Write the key first, then the certificate, each via rename: a reader never sees half a file.
    for (name, body) in [("key.pem", key.serialize_pem()), ("cert.pem", cert.pem())] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body).expect("write");
        std::fs::rename(&tmp, dir.join(name)).expect("rename");
    }
}

#[tokio::test]
async fn rtmps_certificate_is_reloaded_when_the_files_change() {
    let dir = common::tempdir::Dir::new("certs");
    write_cert(&dir.0, "first.inlet.test");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let stack = Stack::start_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    assert!(
        served_cn(stack.rtmps, "ingest.example.com")
            .await
            .contains("first.inlet.test")
    );

    // mtime granularity: make sure the new files look different.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write_cert(&dir.0, "second.inlet.test");
    let mut cn = String::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cn = served_cn(stack.rtmps, "ingest.example.com").await;
        if cn.contains("second") {
            break;
        }
    }
    assert!(
        cn.contains("second.inlet.test"),
        "reloaded certificate served: {cn}"
    );

    // A certificate whose key does not match is refused; the working one stays in place.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mismatched.inlet.test");
    let cert_key = rcgen::KeyPair::generate().expect("key");
    let other_key = rcgen::KeyPair::generate().expect("key");
    std::fs::write(dir.0.join("key.pem"), other_key.serialize_pem()).expect("write");
    std::fs::write(
        dir.0.join("cert.pem"),
        params.self_signed(&cert_key).expect("cert").pem(),
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        served_cn(stack.rtmps, "ingest.example.com")
            .await
            .contains("second.inlet.test")
    );

    // A publish over RTMPS works with the reloaded certificate.
    let (_, _, stream_key) = stack.stream().await;
    let out = ffmpeg_publish(&stack.rtmps_url("live", &stream_key), 2).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn shutdown_tells_live_publishers_and_closes() {
    let stack = Stack::start().await;
    let (_, _, key) = stack.stream().await;
    let url = stack.rtmp_url("live", &key);
    let publisher = tokio::spawn(async move { ffmpeg_publish(&url, 20).await });
    // Wait until the publish is live.
    for _ in 0..100 {
        if !stack.sinks.snapshot().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    stack.shutdown();
    let out = tokio::time::timeout(Duration::from_secs(15), publisher)
        .await
        .expect("ffmpeg stops soon after the shutdown")
        .expect("join");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ffmpeg did not run to its 20 s end"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shutting down"),
        "the encoder is told why: {stderr}"
    );
    let sessions = stack.sinks.snapshot();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ended.as_deref(), Some("shutdown"));
}
