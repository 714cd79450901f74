//! The PROXY protocol (v1 and v2) on the RTMP and RTMPS listeners, with real sockets: a balancer in
//! `INLET_PROXY_PROTOCOL_FROM` (here 127.0.0.1) names the client, and that address is what the API
//! judges (the stream's IP allowlist) and records (the publish attempts), and what the per-address
//! connection limit counts; a header from any other address, or a trusted connection without one,
//! is closed with its reason. ffmpeg cannot send a PROXY header, so it publishes through a relay
//! here that writes one and then pipes ffmpeg's bytes, and finally through a real HAProxy with
//! `send-proxy-v2` (whose health checks pass as quiet closes).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Owner, Stack, ffmpeg_publish, have};
use ppp::v2::{Builder, Command, Protocol, Version};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The balancer's address: trusted.
const BALANCER: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// A client the stream's allowlist admits.
const ADMITTED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// A client the stream's allowlist refuses.
const OUTSIDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// A host that is not a trusted balancer.
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);

/// How long a connection the server should close at once may take (a loaded 2-core machine).
const PROMPT: Duration = Duration::from_secs(6);

/// One encoder at a time: they are CPU-heavy on a small machine.
static ENCODER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stack whose ingest takes PROXY headers from 127.0.0.1.
async fn stack_with(configure: impl FnOnce(&mut inlet_ingest::IngestConfig)) -> Stack {
    Stack::start_with(|c| {
        c.proxy_protocol_from = "127.0.0.1/32".parse().expect("sources");
        configure(c);
    })
    .await
}

#[derive(Clone, Copy, Debug)]
enum Wire {
    V1,
    V2,
}

/// A PROXY header saying that `client` connected to `server`.
fn header(v: Wire, client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    match v {
        Wire::V1 => ppp::v1::Addresses::from((client, server))
            .to_string()
            .into_bytes(),
        Wire::V2 => Builder::with_addresses(
            Version::Two | Command::Proxy,
            Protocol::Stream,
            (client, server),
        )
        .build()
        .expect("v2 header"),
    }
}

/// A v2 `LOCAL` header (a balancer's own health check).
fn v2_local(server: SocketAddr) -> Vec<u8> {
    let me = SocketAddr::new(IpAddr::V4(BALANCER), 40000);
    Builder::with_addresses(
        Version::Two | Command::Local,
        Protocol::Stream,
        (me, server),
    )
    .build()
    .expect("v2 header")
}

fn client(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), 51234)
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn dial(addr: SocketAddr, from: Ipv4Addr) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind a loopback source address");
    tokio::time::timeout(Duration::from_secs(5), sock.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// A TCP relay on 127.0.0.1: each connection it accepts is forwarded to `upstream` from `from`,
/// after `prefix` (a PROXY header) when there is one. Stops when dropped.
struct Relay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr, from: Ipv4Addr, prefix: Option<Vec<u8>>) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let prefix = prefix.clone();
                tokio::spawn(async move {
                    let mut outbound = dial(upstream, from).await;
                    let _ = outbound.set_nodelay(true);
                    if let Some(p) = prefix
                        && outbound.write_all(&p).await.is_err()
                    {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Relay { addr, task }
    }

    fn url(&self, scheme: &str, key: &str) -> String {
        format!("{scheme}://{}/live/{key}", self.addr)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The stream's publish attempts, newest first.
async fn attempts(owner: &Owner<'_>) -> Vec<Value> {
    let (status, v) = owner
        .call(
            reqwest::Method::GET,
            &format!("/v1/streams/{}/attempts", owner.stream),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

/// (result, reason code, client address, tls) of an attempt.
fn summary(a: &Value) -> (String, String, String, bool) {
    (
        a["result"].as_str().unwrap_or("").to_string(),
        a["reason_code"].as_str().unwrap_or("").to_string(),
        a["client_ip"].as_str().unwrap_or("").to_string(),
        a["tls"].as_bool().unwrap_or(false),
    )
}

/// Asserts the stream's attempts, newest first: for each entry of `tls`, a refusal of 127.0.0.3
/// (`ip_not_allowed`) after an accepted publish from 127.0.0.2, both with that `tls`; and one
/// session per accepted publish.
async fn admitted_then_refused(stack: &Stack, owner: &Owner<'_>, tls: &[bool]) {
    let seen: Vec<_> = attempts(owner).await.iter().map(summary).collect();
    let want: Vec<_> = tls
        .iter()
        .flat_map(|&t| {
            [
                (
                    "refused".into(),
                    "ip_not_allowed".into(),
                    "127.0.0.3".into(),
                    t,
                ),
                ("accepted".into(), String::new(), "127.0.0.2".into(), t),
            ]
        })
        .collect();
    assert_eq!(seen, want);
    assert_eq!(stack.sinks.snapshot().len(), tls.len(), "sessions");
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Publishes 2 s with ffmpeg to `url`; returns whether ffmpeg succeeded, and what it printed.
async fn publish(url: &str) -> (bool, String) {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let _turn = ENCODER.lock().await;
    let started = Instant::now();
    let out = ffmpeg_publish(url, 2).await;
    let said = text(&out);
    eprintln!(
        "---- ffmpeg → {url} ({:.1} s, {}) ----\n{}",
        started.elapsed().as_secs_f64(),
        out.status,
        said.lines()
            .filter(|l| l.contains("rror") || l.contains("rtmp"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    (out.status.success(), said)
}

/// Publishes through a relay that sends `v`'s header naming `ip`; asserts ffmpeg's outcome.
async fn publish_as(stack: &Stack, owner: &Owner<'_>, v: Wire, ip: Ipv4Addr, tls: bool) {
    let (ingest, scheme) = if tls {
        (stack.rtmps, "rtmps")
    } else {
        (stack.rtmp, "rtmp")
    };
    let relay = Relay::start(ingest, BALANCER, Some(header(v, client(ip), ingest))).await;
    let (ok, said) = publish(&relay.url(scheme, &owner.key)).await;
    if ip == ADMITTED {
        assert!(ok, "{v:?} as {ip} over {scheme}: ffmpeg failed:\n{said}");
    } else {
        assert!(!ok, "{v:?} as {ip} over {scheme}: ffmpeg succeeded");
        let refusal = format!(
            "Server error: Publishing from {ip} is not allowed by this stream's IP allowlist."
        );
        assert!(said.contains(&refusal), "{v:?} as {ip}: {said}");
    }
}

/// The value of `family{reason="…"}` in the ingest's metrics.
fn reason_count(stack: &Stack, family: &str, reason: &str) -> u64 {
    let line = format!("{family}{{reason=\"{reason}\"}} ");
    let metrics = stack.metrics.render();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits (a little) for the close reason `reason` to count `want` closes; returns its count.
async fn closes_reach(stack: &Stack, reason: &str, want: u64) -> u64 {
    let family = "inlet_ingest_connections_closed_total";
    let until = Instant::now() + Duration::from_secs(5);
    while reason_count(stack, family, reason) < want && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reason_count(stack, family, reason)
}

/// Asserts that exactly `want` connections closed with `reason`.
async fn closes(stack: &Stack, reason: &str, want: u64) {
    let got = closes_reach(stack, reason, want).await;
    assert_eq!(got, want, "{reason}:\n{}", stack.metrics.render());
}

/// Reads until the server closes the connection; panics if it does not within `PROMPT`. Returns
/// how many bytes the server sent before.
async fn server_closes(s: &mut TcpStream, what: &str) -> usize {
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    let wait = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    };
    tokio::time::timeout(PROMPT, wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: the server did not close the connection"));
    got
}

/// C0 and a C1 (simple handshake).
fn c0c1() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend((0..1536u32).map(|i| if i < 8 { 0 } else { (i % 251) as u8 }));
    v
}

/// Sends `prefix` and C0C1 and expects the server's S0S1S2: the RTMP handshake goes ahead.
async fn handshake_answered(s: &mut TcpStream, prefix: &[u8], what: &str) {
    let mut bytes = prefix.to_vec();
    bytes.extend(c0c1());
    s.write_all(&bytes).await.expect("send");
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    tokio::time::timeout(PROMPT, s.read_exact(&mut s012))
        .await
        .unwrap_or_else(|_| panic!("{what}: no S0S1S2 in time"))
        .unwrap_or_else(|e| panic!("{what}: no S0S1S2: {e}"));
    assert_eq!(s012[0], 3, "{what}: S0");
}

#[tokio::test]
async fn a_v1_header_names_the_client_for_allowlists_and_attempts() {
    let stack = stack_with(|_| {}).await;
    let owner = Owner::new(&stack).await;
    owner.patch(json!({"ip_allowlist": ["127.0.0.2/32"]})).await;
    publish_as(&stack, &owner, Wire::V1, ADMITTED, false).await;
    publish_as(&stack, &owner, Wire::V1, OUTSIDER, false).await;
    admitted_then_refused(&stack, &owner, &[false]).await;
}

#[tokio::test]
async fn a_v2_header_names_the_client_on_rtmp_and_before_tls_on_rtmps() {
    let stack = stack_with(|_| {}).await;
    let owner = Owner::new(&stack).await;
    owner.patch(json!({"ip_allowlist": ["127.0.0.2/32"]})).await;
    publish_as(&stack, &owner, Wire::V2, ADMITTED, false).await;
    publish_as(&stack, &owner, Wire::V2, OUTSIDER, false).await;
    // RTMPS: the header comes first, then the TLS handshake.
    publish_as(&stack, &owner, Wire::V2, ADMITTED, true).await;
    publish_as(&stack, &owner, Wire::V1, OUTSIDER, true).await;
    admitted_then_refused(&stack, &owner, &[true, false]).await;
}

#[tokio::test]
async fn headers_are_taken_only_from_trusted_balancers_and_required_from_them() {
    let stack = stack_with(|c| c.rtmp_handshake_timeout_secs = 2).await;
    let rtmp = stack.rtmp;
    let rtmps = stack.rtmps;

    // A header from elsewhere is never believed, on either port, v1 or v2.
    for (port, v) in [(rtmp, Wire::V1), (rtmps, Wire::V2)] {
        let mut s = dial(port, STRANGER).await;
        let mut bytes = header(v, client(ADMITTED), port);
        bytes.extend(c0c1());
        s.write_all(&bytes).await.expect("send");
        let answered = server_closes(&mut s, "untrusted header").await;
        assert_eq!(
            answered, 0,
            "{v:?}: nothing is answered to an untrusted header"
        );
    }
    closes(&stack, "proxy_header_untrusted", 2).await;

    // A trusted balancer's connection without a header: RTMP's C0C1, or TLS's ClientHello.
    let mut s = dial(rtmp, BALANCER).await;
    s.write_all(&c0c1()).await.expect("send");
    assert_eq!(server_closes(&mut s, "no header (RTMP)").await, 0);
    let mut s = dial(rtmps, BALANCER).await;
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .expect("send");
    assert_eq!(server_closes(&mut s, "no header (TLS)").await, 0);
    // Nothing at all, until the handshake time is up.
    let t = Instant::now();
    let mut s = dial(rtmp, BALANCER).await;
    assert_eq!(server_closes(&mut s, "silence").await, 0);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    closes(&stack, "proxy_header_missing", 3).await;

    // Malformed headers: a bad address, and a cut one that stalls.
    let mut s = dial(rtmp, BALANCER).await;
    s.write_all(b"PROXY TCP4 999.0.0.1 127.0.0.1 51234 1935\r\n")
        .await
        .expect("send");
    assert_eq!(server_closes(&mut s, "bad address").await, 0);
    let mut s = dial(rtmps, BALANCER).await;
    let v2 = header(Wire::V2, client(ADMITTED), rtmps);
    s.write_all(&v2[..20]).await.expect("send");
    assert_eq!(server_closes(&mut s, "cut v2 header").await, 0);
    closes(&stack, "proxy_header_invalid", 2).await;

    // Health checks: `PROXY UNKNOWN` and v2 LOCAL keep the balancer's address and are served.
    let mut s = dial(rtmp, BALANCER).await;
    handshake_answered(&mut s, b"PROXY UNKNOWN\r\n", "PROXY UNKNOWN").await;
    let mut s = dial(rtmp, BALANCER).await;
    handshake_answered(&mut s, &v2_local(rtmp), "v2 LOCAL").await;
    // The header and the handshake may also arrive in separate writes.
    let mut s = dial(rtmp, BALANCER).await;
    let v1 = header(Wire::V1, client(ADMITTED), rtmp);
    s.write_all(&v1[..10]).await.expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    handshake_answered(&mut s, &v1[10..], "a header in two writes").await;

    // An ordinary client (no header) from an untrusted address is served as always.
    let mut s = dial(rtmp, STRANGER).await;
    handshake_answered(&mut s, b"", "direct client").await;
}

#[tokio::test]
async fn the_per_address_limit_counts_the_client_the_header_names() {
    let stack = stack_with(|c| c.rtmp_max_connections_per_ip = 2).await;
    let rtmp = stack.rtmp;
    let named = |last: u8| header(Wire::V1, client(Ipv4Addr::new(127, 0, 0, last)), rtmp);
    // All from the balancer: its own address is not what is counted.
    let mut first = dial(rtmp, BALANCER).await;
    handshake_answered(&mut first, &named(9), "first from .9").await;
    let mut second = dial(rtmp, BALANCER).await;
    handshake_answered(&mut second, &named(9), "second from .9").await;
    let mut third = dial(rtmp, BALANCER).await;
    let mut bytes = named(9);
    bytes.extend(c0c1());
    third.write_all(&bytes).await.expect("send");
    assert_eq!(server_closes(&mut third, "third from .9").await, 0);
    let refused = "inlet_ingest_connections_refused_total";
    assert_eq!(reason_count(&stack, refused, "max_connections_per_ip"), 1);
    // Another client through the same balancer still gets in.
    let mut other = dial(rtmp, BALANCER).await;
    handshake_answered(&mut other, &named(10), "from .10").await;
    drop((first, second, other));
}

/// A running HAProxy, stopped when dropped.
struct Haproxy {
    child: tokio::process::Child,
    _dir: common::tempdir::Dir,
    addr: SocketAddr,
}

impl Haproxy {
    /// HAProxy in TCP mode on a free loopback port, forwarding to `ingest` with `send-proxy-v2`.
    async fn start(ingest: SocketAddr) -> Haproxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let dir = common::tempdir::Dir::new("haproxy");
        let config = dir.0.join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n    maxconn 100\n\n\
                 defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\n\
                 frontend rtmp\n    bind {addr}\n    default_backend ingest\n\n\
                 backend ingest\n    server ingest {ingest} send-proxy-v2 check inter 300ms fall 1\n"
            ),
        )
        .expect("write haproxy.cfg");
        let program = ["haproxy", "/usr/sbin/haproxy"]
            .into_iter()
            .find(|p| have(p))
            .expect("HAProxy is required (installed by .ci/run)");
        let child = tokio::process::Command::new(program)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let h = Haproxy {
            child,
            _dir: dir,
            addr,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < until, "HAProxy did not listen on {addr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        h
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn through_haproxy_send_proxy_v2_the_client_address_arrives() {
    let stack = stack_with(|_| {}).await;
    let owner = Owner::new(&stack).await;
    owner.patch(json!({"ip_allowlist": ["127.0.0.2/32"]})).await;
    let haproxy = Haproxy::start(stack.rtmp).await;
    // HAProxy's health checks (`check`, every 300 ms, one failure takes the server out) reach the
    // ingest through the same port: let a few pass first.
    // They send a v2 LOCAL header and close: quiet closes (`peer_closed`), nothing refused.
    let checks = closes_reach(&stack, "peer_closed", 4).await;
    assert!(checks >= 4, "health checks: {}", stack.metrics.render());
    for reason in [
        "network_error",
        "proxy_header_missing",
        "proxy_header_invalid",
    ] {
        let family = "inlet_ingest_connections_closed_total";
        assert_eq!(reason_count(&stack, family, reason), 0, "{reason}");
    }
    // HAProxy's frontend sees the relay's source address, 127.0.0.2 or 127.0.0.3, and HAProxy
    // connects to the ingest from 127.0.0.1 (trusted) with a v2 header naming it.
    let admitted = Relay::start(haproxy.addr, ADMITTED, None).await;
    let (ok, said) = publish(&admitted.url("rtmp", &owner.key)).await;
    assert!(ok, "through HAProxy from 127.0.0.2: ffmpeg failed:\n{said}");
    let outsider = Relay::start(haproxy.addr, OUTSIDER, None).await;
    let (ok, said) = publish(&outsider.url("rtmp", &owner.key)).await;
    assert!(!ok, "through HAProxy from 127.0.0.3: ffmpeg succeeded");
    assert!(
        said.contains("Publishing from 127.0.0.3 is not allowed"),
        "{said}"
    );
    admitted_then_refused(&stack, &owner, &[false]).await;
}
