//! Hostile RTMP clients against a live ingest. A legitimate ffmpeg publish runs for the whole hostile
//! phase; every hostile connection must be closed by the server (EOF or reset seen by the client) with
//! the expected reason on `inlet_ingest_connections_closed_total`, and the ffmpeg publish must go on
//! undisturbed. Malformed chunks are built by hand; well-formed messages use the crate's AMF0 encoder
//! and chunk writer.
//!
//! Hostile clients connect from their own loopback addresses (127.0.0.2, 127.0.0.3) so the
//! per-address connection limit can be exercised without touching the legitimate publisher on
//! 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::{Stack, ffmpeg_publish};
use inlet_ingest::rtmp::amf0::{self, Value, object, string};
use inlet_ingest::rtmp::chunk::ChunkWriter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Where hostile clients connect from.
const HOSTILE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where the connection-limit case connects from.
const CROWD_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

const HANDSHAKE_TIMEOUT_SECS: u64 = 2;
const PUBLISH_TIMEOUT_SECS: u64 = 3;
const MAX_CONNECTIONS_PER_IP: usize = 8;
/// Length of the legitimate publish; it must outlast the hostile phase.
const LEGIT_SECS: u32 = 12;

/// How long a connection that should be closed at once may take (generous: a loaded 2-core machine).
const PROMPT: Duration = Duration::from_secs(6);
/// How long to wait for a metric to catch up with a close the client already saw.
const METRIC_WAIT: Duration = Duration::from_secs(5);

const CLOSED: &str = "inlet_ingest_connections_closed_total";
const REFUSED: &str = "inlet_ingest_connections_refused_total";

// ---------------------------------------------------------------------------------------------
// A raw RTMP client.
// ---------------------------------------------------------------------------------------------

/// Opens a TCP connection from `from`.
async fn dial(addr: SocketAddr, from: Ipv4Addr) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind a loopback source address");
    let s = tokio::time::timeout(Duration::from_secs(5), sock.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let _ = s.set_nodelay(true);
    s
}

/// C0 (version 3) and a C1 with a zero version field (simple handshake).
fn c0c1() -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + 1536);
    v.push(3);
    v.extend((0..1536u32).map(|i| if i < 8 { 0 } else { (i * 31 + 7) as u8 }));
    v
}

/// Sends C0C1 and reads S0S1S2; returns the C2 to send (S1 echoed), so a caller can send it in
/// the same write as what follows.
async fn handshake(s: &mut TcpStream) -> Vec<u8> {
    s.write_all(&c0c1()).await.expect("send C0C1");
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut s012))
        .await
        .expect("S0S1S2 in time")
        .expect("S0S1S2");
    assert_eq!(s012[0], 3, "S0");
    s012[1..1 + 1536].to_vec()
}

/// Dials from the hostile address and completes the handshake (C2 sent).
async fn handshaken(stack: &Stack) -> TcpStream {
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let c2 = handshake(&mut s).await;
    s.write_all(&c2).await.expect("send C2");
    s
}

/// One message as well-formed chunks (128-byte chunks, the size the server expects by default).
fn message(csid: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / 128 + 16);
    ChunkWriter::new(128).write(&mut out, csid, 0, type_id, stream_id, payload);
    out
}

fn amf(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        amf0::encode(&mut out, v);
    }
    out
}

/// An AMF0 command message (type 20) on chunk stream 3.
fn command(stream_id: u32, values: &[Value]) -> Vec<u8> {
    message(3, 20, stream_id, &amf(values))
}

/// A protocol control message on chunk stream 2.
fn control(type_id: u8, payload: &[u8]) -> Vec<u8> {
    message(2, type_id, 0, payload)
}

fn connect_cmd(app: &str) -> Vec<u8> {
    command(
        0,
        &[
            string("connect"),
            Value::Number(1.0),
            object(&[
                ("app", string(app)),
                ("type", string("nonprivate")),
                ("tcUrl", string("rtmp://127.0.0.1/live")),
            ]),
        ],
    )
}

fn create_stream_cmd(txn: f64) -> Vec<u8> {
    command(
        0,
        &[string("createStream"), Value::Number(txn), Value::Null],
    )
}

fn publish_cmd(name: &str) -> Vec<u8> {
    command(
        1,
        &[
            string("publish"),
            Value::Number(5.0),
            Value::Null,
            string(name),
            string("live"),
        ],
    )
}

/// A command whose AMF0 body is given raw.
fn raw_command(body: &[u8]) -> Vec<u8> {
    message(3, 20, 0, body)
}

/// The AMF0 bytes of `"connect", 1.0` followed by an object marker: a raw connect object follows.
fn connect_prefix() -> Vec<u8> {
    let mut b = amf(&[string("connect"), Value::Number(1.0)]);
    b.push(0x03);
    b
}

/// Writes, ignoring errors: the server may already have closed (reset) the connection.
async fn send(s: &mut TcpStream, bytes: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(10), s.write_all(bytes)).await;
}

/// Reads (and discards) until the server closes the connection: EOF or reset. Panics after `limit`.
async fn closed_by_server(s: &mut TcpStream, limit: Duration, what: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    let wait = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    if tokio::time::timeout(limit, wait).await.is_err() {
        panic!("{what}: the server did not close the connection within {limit:?}");
    }
}

/// Reads until `needle` shows up in what the server sent; panics on close or after 10 s.
async fn read_until(s: &mut TcpStream, needle: &[u8], what: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let wait = async {
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            assert!(
                n > 0,
                "{what}: closed before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(needle.len()).any(|w| w == needle) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: no {:?} in 10 s", String::from_utf8_lossy(needle)));
    seen
}

// ---------------------------------------------------------------------------------------------
// Metrics.
// ---------------------------------------------------------------------------------------------

/// Every `reason` label value of a counter family and its count.
fn by_reason(stack: &Stack, family: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{family}{{reason=\"");
    stack
        .metrics
        .render()
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (reason, value) = rest.split_once("\"} ")?;
            Some((reason.to_string(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

fn count(stack: &Stack, family: &str, reason: &str) -> u64 {
    by_reason(stack, family).get(reason).copied().unwrap_or(0)
}

fn gauge(stack: &Stack, name: &str) -> i64 {
    let prefix = format!("{name} ");
    stack
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as i64)
}

/// Waits until the counter reaches `want` (the close is visible to the client a moment before the
/// task records it), then checks it did not overshoot.
async fn await_count(stack: &Stack, family: &str, reason: &str, want: u64, what: &str) {
    let until = Instant::now() + METRIC_WAIT;
    while count(stack, family, reason) < want && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = count(stack, family, reason);
    assert_eq!(
        got,
        want,
        "{what}: {family}{{reason=\"{reason}\"}}; all reasons: {:?}",
        by_reason(stack, family)
    );
}

// ---------------------------------------------------------------------------------------------
// Cases. Each returns once the server has closed its connection, with the time from connect.
// ---------------------------------------------------------------------------------------------

/// What an HTTP client (or a port scanner) sends: not RTMP at all.
async fn garbage_before_handshake(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    send(
        &mut s,
        b"GET /live/key HTTP/1.1\r\nHost: ingest\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    closed_by_server(&mut s, PROMPT, "garbage").await;
    t.elapsed()
}

/// RTMPE (version 6) with a full C1.
async fn wrong_version_byte(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let mut c = c0c1();
    c[0] = 6;
    send(&mut s, &c).await;
    closed_by_server(&mut s, PROMPT, "version 6").await;
    t.elapsed()
}

/// An rtmps:// client on the plain port: a TLS ClientHello record header.
async fn tls_client_hello_on_plain_port(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03,
    ];
    hello.extend(std::iter::repeat_n(0x42u8, 512));
    send(&mut s, &hello).await;
    closed_by_server(&mut s, PROMPT, "TLS hello").await;
    t.elapsed()
}

/// Set Chunk Size 0 (no progress possible).
async fn chunk_size_zero(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &control(1, &0u32.to_be_bytes())).await;
    closed_by_server(&mut s, PROMPT, "chunk size 0").await;
    t.elapsed()
}

/// Set Chunk Size 2^31-1 (far beyond the configured maximum).
async fn chunk_size_2_pow_31_minus_1(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &control(1, &0x7FFF_FFFFu32.to_be_bytes())).await;
    closed_by_server(&mut s, PROMPT, "chunk size 2^31-1").await;
    t.elapsed()
}

/// A type-0 header announcing a 16 MiB message (the 24-bit maximum, 0xFFFFFF), with the first bytes
/// of its payload; the rest never comes.
async fn message_length_16_mib(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut chunk = vec![0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
    chunk.extend(std::iter::repeat_n(0x17u8, 128));
    send(&mut s, &chunk).await;
    closed_by_server(&mut s, PROMPT, "16 MiB message").await;
    t.elapsed()
}

/// 65 000 distinct chunk stream ids (3-byte basic headers), each with a one-byte video message.
async fn distinct_chunk_stream_ids_65000(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut bytes = Vec::with_capacity(65_000 * 15);
    for i in 0..65_000u32 {
        // fmt 0, csid = 64 + b1 + 256 * b2.
        bytes.extend_from_slice(&[0x01, (i & 0xFF) as u8, (i >> 8) as u8]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0x17]);
    }
    send(&mut s, &bytes).await;
    closed_by_server(&mut s, PROMPT, "65 000 chunk streams").await;
    t.elapsed()
}

/// A type-3 chunk on a chunk stream that never had a header.
async fn type3_without_previous_header(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut chunk = vec![0xC5];
    chunk.extend(std::iter::repeat_n(0u8, 64));
    send(&mut s, &chunk).await;
    closed_by_server(&mut s, PROMPT, "type 3 without header").await;
    t.elapsed()
}

/// A type-1 chunk (delta, length, type; no stream id) on a fresh chunk stream.
async fn type1_without_previous_header(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut chunk = vec![0x47, 0, 0, 40, 0, 0, 4, 9];
    chunk.extend_from_slice(&[0x17, 1, 0, 0]);
    send(&mut s, &chunk).await;
    closed_by_server(&mut s, PROMPT, "type 1 without header").await;
    t.elapsed()
}

/// Set Chunk Size with a 3-byte payload.
async fn set_chunk_size_3_byte_payload(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &control(1, &[0, 0x10, 0])).await;
    closed_by_server(&mut s, PROMPT, "3-byte set chunk size").await;
    t.elapsed()
}

async fn publish_before_connect(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &publish_cmd("sk_nothing_here")).await;
    closed_by_server(&mut s, PROMPT, "publish before connect").await;
    t.elapsed()
}

/// Two publishes in one burst (C2, connect, createStream, publish, publish in a single write, so
/// the session sees the second before anyone asked the API about the first).
async fn publish_twice(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let mut burst = handshake(&mut s).await;
    burst.extend(connect_cmd("live"));
    burst.extend(create_stream_cmd(2.0));
    burst.extend(publish_cmd("sk_first_attempt"));
    burst.extend(publish_cmd("sk_second_attempt"));
    send(&mut s, &burst).await;
    closed_by_server(&mut s, PROMPT, "publish twice").await;
    t.elapsed()
}

/// An accepted publisher (its own stream, same ingest) sends `publish` again while live: only its
/// own session ends (its sink with `bad_command`), the live gauge goes back down.
async fn publish_again_while_live(stack: &Stack, key: &str) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let mut burst = handshake(&mut s).await;
    burst.extend(connect_cmd("live"));
    burst.extend(create_stream_cmd(2.0));
    burst.extend(publish_cmd(key));
    send(&mut s, &burst).await;
    read_until(&mut s, b"NetStream.Publish.Start", "second publisher").await;
    // The gauge moves just after Publish.Start is sent.
    let until = Instant::now() + METRIC_WAIT;
    while gauge(stack, "inlet_ingest_live_sessions") < 2 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        gauge(stack, "inlet_ingest_live_sessions"),
        2,
        "ffmpeg and the second publisher are live"
    );
    send(&mut s, &publish_cmd(key)).await;
    closed_by_server(&mut s, PROMPT, "publish again while live").await;
    t.elapsed()
}

/// 1000 createStream calls after connect.
async fn create_stream_flood(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut bytes = connect_cmd("live");
    for i in 0..1000 {
        bytes.extend(create_stream_cmd(f64::from(2 + i)));
    }
    send(&mut s, &bytes).await;
    closed_by_server(&mut s, PROMPT, "createStream flood").await;
    t.elapsed()
}

async fn connect_twice(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut bytes = connect_cmd("live");
    bytes.extend(connect_cmd("live"));
    send(&mut s, &bytes).await;
    closed_by_server(&mut s, PROMPT, "connect twice").await;
    t.elapsed()
}

/// A command whose name is a number.
async fn command_name_not_a_string(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(
        &mut s,
        &command(0, &[Value::Number(42.0), Value::Number(1.0), Value::Null]),
    )
    .await;
    closed_by_server(&mut s, PROMPT, "numeric command name").await;
    t.elapsed()
}

/// `connect` with a 100 KB app name (an AMF0 long string).
async fn connect_with_100kb_app(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let app = "a".repeat(100 * 1024);
    let bytes = command(
        0,
        &[
            string("connect"),
            Value::Number(1.0),
            object(&[("app", string(&app))]),
        ],
    );
    send(&mut s, &bytes).await;
    closed_by_server(&mut s, PROMPT, "100 KB app").await;
    t.elapsed()
}

/// `connect` whose command object nests 10^6 objects (about 4 MB, under the 8 MiB message limit).
async fn amf0_million_nested_objects(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut body = connect_prefix();
    for _ in 0..1_000_000 {
        body.extend_from_slice(&[0x00, 0x01, b'a', 0x03]);
    }
    send(&mut s, &raw_command(&body)).await;
    closed_by_server(&mut s, PROMPT, "10^6 nested objects").await;
    t.elapsed()
}

/// `connect {app: <string of 65535 bytes>}` carrying only 4 bytes of it.
async fn amf0_string_beyond_message(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut body = connect_prefix();
    body.extend_from_slice(&[0x00, 0x03, b'a', b'p', b'p', 0x02, 0xFF, 0xFF]);
    body.extend_from_slice(b"live");
    send(&mut s, &raw_command(&body)).await;
    closed_by_server(&mut s, PROMPT, "string beyond message").await;
    t.elapsed()
}

/// An AMF0 long string claiming 4 GiB as the command name.
async fn amf0_long_string_4gib(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(
        &mut s,
        &raw_command(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'c', b'o']),
    )
    .await;
    closed_by_server(&mut s, PROMPT, "4 GiB long string").await;
    t.elapsed()
}

/// `connect {app: <marker 0x11, the AMF3 switch, which AMF0 commands must not carry>}`.
async fn amf0_bad_marker(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut body = connect_prefix();
    body.extend_from_slice(&[0x00, 0x03, b'a', b'p', b'p', 0x11, 0x06, 0x09]);
    body.extend_from_slice(&[0x00, 0x00, 0x09]);
    send(&mut s, &raw_command(&body)).await;
    closed_by_server(&mut s, PROMPT, "bad AMF0 marker").await;
    t.elapsed()
}

/// An aggregate message (type 22) whose FLV tag claims 4096 bytes and carries 20.
async fn aggregate_with_truncated_tag(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    let mut payload = vec![9, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0];
    payload.extend(std::iter::repeat_n(0x17u8, 20));
    send(&mut s, &message(6, 22, 1, &payload)).await;
    closed_by_server(&mut s, PROMPT, "truncated aggregate").await;
    t.elapsed()
}

/// C0 and 700 bytes of C1, then silence.
async fn truncated_handshake_then_silence(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    send(&mut s, &c0c1()[..701]).await;
    closed_by_server(&mut s, Duration::from_secs(10), "truncated handshake").await;
    t.elapsed()
}

/// The handshake trickled one byte every 100 ms: the trickle must not extend the deadline.
async fn slowloris_handshake(stack: &Stack) -> Duration {
    let t = Instant::now();
    let s = dial(stack.rtmp, HOSTILE_IP).await;
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    });
    let c = c0c1();
    for b in c.iter().cycle().take(200) {
        if reader.is_finished() || w.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed_at = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("slowloris: the server did not close the connection")
        .expect("reader");
    closed_at - t
}

/// Connect, then nothing: closed at the publish deadline.
async fn idle_after_connect(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &connect_cmd("live")).await;
    closed_by_server(&mut s, Duration::from_secs(12), "idle after connect").await;
    t.elapsed()
}

/// Connect, then a steady flood of pre-publish video messages with extended timestamps on every
/// chunk (type 0 with 0xFFFFFF, type-3 continuations repeating the 4-byte field), never publishing:
/// the traffic must not keep the connection past the publish deadline.
async fn extended_timestamp_flood(stack: &Stack) -> Duration {
    let t = Instant::now();
    let mut s = handshaken(stack).await;
    send(&mut s, &connect_cmd("live")).await;
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    });
    let mut burst = Vec::new();
    let mut ts = 0xFFFF_0000u32;
    while burst.len() < 32 * 1024 {
        ts = ts.wrapping_add(33);
        let mut out = Vec::new();
        // ChunkWriter repeats the extended timestamp on continuation chunks for timestamps >= 2^24.
        ChunkWriter::new(128).write(&mut out, 6, ts, 9, 1, &[0x27; 300]);
        burst.extend(out);
    }
    let stop = Instant::now() + Duration::from_secs(12);
    while !reader.is_finished() && Instant::now() < stop {
        match tokio::time::timeout(Duration::from_secs(2), w.write_all(&burst)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed_at = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("extended timestamp flood: the server did not close the connection")
        .expect("reader");
    closed_at - t
}

/// Sends C0C1 and reads S0S1S2: whether the server let this connection in.
async fn answered(s: &mut TcpStream) -> bool {
    if s.write_all(&c0c1()).await.is_err() {
        return false;
    }
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut s012)).await,
        Ok(Ok(_))
    )
}

/// What the connection-limit case observed.
struct Crowd {
    /// Until the first refusal.
    elapsed: Duration,
    /// Connections let in before the refusal (all closed by the client afterwards).
    accepted: usize,
    /// Refusals seen while waiting for slots to come back (a close races the next dial).
    refused_while_releasing: u64,
}

/// Connections from one address until one is refused: exactly the limit is let in, the next is
/// dropped before the handshake, and slots come back once the crowd leaves.
async fn too_many_connections_from_one_ip(stack: &Stack) -> Crowd {
    let t = Instant::now();
    let peer_closed_before = count(stack, CLOSED, "peer_closed");
    let mut held = Vec::new();
    let mut refused_after = None;
    for i in 0..=MAX_CONNECTIONS_PER_IP {
        let mut s = dial(stack.rtmp, CROWD_IP).await;
        if answered(&mut s).await {
            held.push(s);
        } else {
            refused_after = Some(i);
            break;
        }
    }
    assert_eq!(
        refused_after,
        Some(MAX_CONNECTIONS_PER_IP),
        "connection {} from one address is refused, not another",
        MAX_CONNECTIONS_PER_IP + 1
    );
    let elapsed = t.elapsed();
    let accepted = held.len();
    drop(held);
    // The server sees the crowd leave (peer_closed), then releases the slots.
    await_count(
        stack,
        CLOSED,
        "peer_closed",
        peer_closed_before + accepted as u64,
        "crowd left",
    )
    .await;
    let until = Instant::now() + Duration::from_secs(5);
    let mut refused_while_releasing = 0;
    loop {
        let mut s = dial(stack.rtmp, CROWD_IP).await;
        if answered(&mut s).await {
            break;
        }
        refused_while_releasing += 1;
        assert!(
            Instant::now() < until,
            "slots of {CROWD_IP} were not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Crowd {
        elapsed,
        accepted,
        refused_while_releasing,
    }
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

/// A case that must be closed at once: it resolves, with the time from connect, once it has been.
type Case<'a> = Pin<Box<dyn Future<Output = Duration> + 'a>>;

struct Row {
    name: &'static str,
    reason: &'static str,
    elapsed: Duration,
}

/// Runs one case that must be closed at once, and checks its reason was counted exactly once.
async fn prompt_case(
    stack: &Stack,
    rows: &mut Vec<Row>,
    name: &'static str,
    reason: &'static str,
    case: impl Future<Output = Duration>,
) {
    let before = count(stack, CLOSED, reason);
    let elapsed = case.await;
    await_count(stack, CLOSED, reason, before + 1, name).await;
    rows.push(Row {
        name,
        reason,
        elapsed,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_closed_alone_while_a_publish_goes_on() {
    assert!(
        common::have("ffmpeg"),
        "ffmpeg is required (installed by .ci/run)"
    );
    let stack = Stack::start_with(|c| {
        c.rtmp_handshake_timeout_secs = HANDSHAKE_TIMEOUT_SECS;
        c.rtmp_publish_timeout_secs = PUBLISH_TIMEOUT_SECS;
        c.rtmp_max_connections_per_ip = MAX_CONNECTIONS_PER_IP;
    })
    .await;
    let test_start = Instant::now();
    let (_token, _stream, legit_key) = stack.stream().await;
    let (_token, _stream, second_key) = stack.stream().await;

    // The legitimate publisher, live before the first hostile byte.
    let url = stack.rtmp_url("live", &legit_key);
    let legit = tokio::spawn(async move { ffmpeg_publish(&url, LEGIT_SECS).await });
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stack.sinks.snapshot();
        if s.first().is_some_and(|s| s.video_frames > 0) {
            break;
        }
        assert!(!legit.is_finished(), "ffmpeg ended before going live");
        assert!(Instant::now() < until, "ffmpeg did not go live in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frames_at_start = stack.sinks.snapshot()[0].video_frames;
    let closed_at_start = by_reason(&stack, CLOSED);
    assert!(
        closed_at_start.is_empty(),
        "nothing closed yet: {closed_at_start:?}"
    );
    let hostile_start = Instant::now();

    // Cases closed by a deadline run concurrently with the ones closed at once.
    let prompt = async {
        let s = &stack;
        let cases: Vec<(&str, &str, Case<'_>)> = vec![
            (
                "garbage before the handshake (HTTP request)",
                "bad_handshake",
                Box::pin(garbage_before_handshake(s)),
            ),
            (
                "wrong version byte (6, RTMPE)",
                "bad_handshake",
                Box::pin(wrong_version_byte(s)),
            ),
            (
                "TLS ClientHello on the plain port",
                "bad_handshake",
                Box::pin(tls_client_hello_on_plain_port(s)),
            ),
            (
                "set chunk size 0",
                "bad_chunk_size",
                Box::pin(chunk_size_zero(s)),
            ),
            (
                "set chunk size 2^31-1",
                "bad_chunk_size",
                Box::pin(chunk_size_2_pow_31_minus_1(s)),
            ),
            (
                "set chunk size with a 3-byte payload",
                "bad_command",
                Box::pin(set_chunk_size_3_byte_payload(s)),
            ),
            (
                "message length 16 MiB (0xFFFFFF, the 24-bit maximum)",
                "message_too_large",
                Box::pin(message_length_16_mib(s)),
            ),
            (
                "65 000 distinct chunk stream ids",
                "too_many_chunk_streams",
                Box::pin(distinct_chunk_stream_ids_65000(s)),
            ),
            (
                "type-3 chunk with no previous header",
                "bad_chunk_header",
                Box::pin(type3_without_previous_header(s)),
            ),
            (
                "type-1 chunk with no previous header",
                "bad_chunk_header",
                Box::pin(type1_without_previous_header(s)),
            ),
            (
                "publish before connect",
                "bad_command",
                Box::pin(publish_before_connect(s)),
            ),
            (
                "publish twice (one burst)",
                "bad_command",
                Box::pin(publish_twice(s)),
            ),
            (
                "publish again while live (own stream)",
                "bad_command",
                Box::pin(publish_again_while_live(s, &second_key)),
            ),
            ("connect twice", "bad_command", Box::pin(connect_twice(s))),
            (
                "createStream flood (1000 calls)",
                "bad_command",
                Box::pin(create_stream_flood(s)),
            ),
            (
                "command name not a string",
                "bad_command",
                Box::pin(command_name_not_a_string(s)),
            ),
            (
                "connect with a 100 KB app name",
                "bad_command",
                Box::pin(connect_with_100kb_app(s)),
            ),
            (
                "aggregate message with a truncated tag",
                "bad_command",
                Box::pin(aggregate_with_truncated_tag(s)),
            ),
            (
                "AMF0 with 10^6 nested objects",
                "bad_amf0",
                Box::pin(amf0_million_nested_objects(s)),
            ),
            (
                "AMF0 string length beyond the message",
                "bad_amf0",
                Box::pin(amf0_string_beyond_message(s)),
            ),
            (
                "AMF0 long string claiming 4 GiB",
                "bad_amf0",
                Box::pin(amf0_long_string_4gib(s)),
            ),
            (
                "AMF0 unknown marker (0x11)",
                "bad_amf0",
                Box::pin(amf0_bad_marker(s)),
            ),
        ];
        let mut rows = Vec::new();
        for (name, reason, case) in cases {
            prompt_case(s, &mut rows, name, reason, case).await;
        }
        rows
    };
    let (truncated, slowloris, idle, flood, mut rows) = tokio::join!(
        truncated_handshake_then_silence(&stack),
        slowloris_handshake(&stack),
        idle_after_connect(&stack),
        extended_timestamp_flood(&stack),
        prompt,
    );
    let handshake_deadline = Duration::from_secs(HANDSHAKE_TIMEOUT_SECS);
    let publish_deadline = Duration::from_secs(PUBLISH_TIMEOUT_SECS);
    for (name, reason, elapsed, deadline) in [
        (
            "truncated handshake, then silence",
            "handshake_timeout",
            truncated,
            handshake_deadline,
        ),
        (
            "handshake trickled 1 byte / 100 ms",
            "handshake_timeout",
            slowloris,
            handshake_deadline,
        ),
        (
            "idle after connect",
            "publish_timeout",
            idle,
            publish_deadline,
        ),
        (
            "extended-timestamp flood, never publishing",
            "publish_timeout",
            flood,
            publish_deadline,
        ),
    ] {
        // Closed at the deadline: not before it, and not long after it.
        assert!(
            elapsed + Duration::from_millis(200) >= deadline
                && elapsed <= deadline + Duration::from_secs(4),
            "{name}: closed after {elapsed:?}, deadline {deadline:?}"
        );
        rows.push(Row {
            name,
            reason,
            elapsed,
        });
    }
    await_count(&stack, CLOSED, "handshake_timeout", 2, "deadline cases").await;
    await_count(&stack, CLOSED, "publish_timeout", 2, "deadline cases").await;

    // Too many connections from one address (its own, not the publisher's).
    let crowd = too_many_connections_from_one_ip(&stack).await;
    let refused = 1 + crowd.refused_while_releasing;
    await_count(
        &stack,
        REFUSED,
        "max_connections_per_ip",
        refused,
        "per-address limit",
    )
    .await;
    rows.push(Row {
        name: "too many connections from one address",
        reason: "refused: max_connections_per_ip",
        elapsed: crowd.elapsed,
    });
    // The crowd left on its own (peer_closed): the accepted ones and the one that proved a slot freed.
    let crowd_closed = crowd.accepted as u64 + 1;
    await_count(&stack, CLOSED, "peer_closed", crowd_closed, "crowd").await;
    let hostile_elapsed = hostile_start.elapsed();

    // Every close is accounted for: exactly the expected reasons, nothing else (ffmpeg still live).
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.reason.starts_with("refused")) {
        *expected.entry(r.reason.to_string()).or_default() += 1;
    }
    expected.insert("peer_closed".into(), crowd_closed);
    assert_eq!(
        by_reason(&stack, CLOSED),
        expected,
        "connections closed, by reason"
    );
    assert_eq!(
        by_reason(&stack, REFUSED),
        BTreeMap::from([("max_connections_per_ip".to_string(), refused)]),
        "connections refused, by reason"
    );
    assert!(
        !legit.is_finished(),
        "the legitimate publish must outlast the hostile phase ({hostile_elapsed:?}); raise LEGIT_SECS"
    );
    assert_eq!(
        gauge(&stack, "inlet_ingest_live_sessions"),
        1,
        "only ffmpeg is live"
    );
    let frames_mid = stack.sinks.snapshot()[0].video_frames;
    // -re paces ffmpeg at 30 fps: during the hostile phase frames kept coming (half the rate at least).
    let min_mid = (hostile_elapsed.as_secs_f64() * 30.0 * 0.5) as u64;
    assert!(
        frames_mid - frames_at_start >= min_mid,
        "video frames during the hostile phase ({hostile_elapsed:?}): {} < {min_mid}",
        frames_mid - frames_at_start
    );

    // The legitimate publish ends normally, undisturbed.
    let out = legit.await.expect("ffmpeg task");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    await_count(&stack, CLOSED, "publisher_left", 1, "ffmpeg").await;
    let sessions = stack.sinks.snapshot();
    assert_eq!(
        sessions.len(),
        2,
        "the ffmpeg session and the hostile second publisher's session"
    );
    let ffmpeg = &sessions[0];
    let min_video = (f64::from(LEGIT_SECS) * 30.0 * 0.8) as u64;
    let min_audio = (f64::from(LEGIT_SECS) * 48_000.0 / 1024.0 * 0.8) as u64;
    assert!(
        ffmpeg.video_frames >= min_video && ffmpeg.video_frames <= u64::from(LEGIT_SECS) * 30 + 30,
        "video frames: {} (want about {})",
        ffmpeg.video_frames,
        LEGIT_SECS * 30
    );
    assert!(
        ffmpeg.audio_frames >= min_audio,
        "audio frames: {} < {min_audio}",
        ffmpeg.audio_frames
    );
    assert_eq!(ffmpeg.metadata, 1);
    assert!(ffmpeg.config_records >= 2, "AVC and AAC sequence headers");
    assert_eq!(ffmpeg.ended.as_deref(), Some("publisher_left"));
    let second = &sessions[1];
    assert_eq!(
        (
            second.video_frames,
            second.audio_frames,
            second.ended.as_deref()
        ),
        (0, 0, Some("bad_command")),
        "the hostile second publisher's session ended with its own reason"
    );
    assert_eq!(gauge(&stack, "inlet_ingest_live_sessions"), 0);

    // The server is still healthy (no task panicked, no slot leaked): a fresh publish goes through.
    let (_token, _stream, fresh_key) = stack.stream().await;
    let out = ffmpeg_publish(&stack.rtmp_url("live", &fresh_key), 2).await;
    assert!(
        out.status.success(),
        "fresh ffmpeg publish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    await_count(&stack, CLOSED, "publisher_left", 2, "fresh ffmpeg").await;
    let sessions = stack.sinks.snapshot();
    assert_eq!(sessions.len(), 3);
    assert!(
        sessions[2].video_frames >= 40,
        "fresh publish video frames: {}",
        sessions[2].video_frames
    );
    assert_eq!(sessions[2].ended.as_deref(), Some("publisher_left"));

    eprintln!(
        "hostile phase {hostile_elapsed:?}, whole test {:?}",
        test_start.elapsed()
    );
    for r in &rows {
        eprintln!(
            "  {:<48} {:<32} closed after {:?}",
            r.name, r.reason, r.elapsed
        );
    }
    eprintln!(
        "  ffmpeg: {} video / {} audio frames, ended {:?}",
        ffmpeg.video_frames, ffmpeg.audio_frames, ffmpeg.ended
    );
}

// ---------------------------------------------------------------------------------------------
// Resource bounds found by this suite: a client that never reads, partial messages spread over many
// chunk streams, and AMF0 values that cost far more decoded than encoded.
// ---------------------------------------------------------------------------------------------

/// Serializes the tests that measure the process's memory (the ingest runs in this process).
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The resident set size of this process, bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples the RSS every 2 ms on a thread until dropped; `peak()` is the highest seen.
struct RssPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RssPeak {
    fn start() -> RssPeak {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss()));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        RssPeak { stop, peak }
    }

    fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RssPeak {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Bug: the server's writes have no deadline. A client that sends Ping Requests (each answered
/// with a Ping Response) and never reads fills the socket buffers; the connection task then
/// blocks in `flush` forever, so the publish (and idle) deadline, checked only around reads, never
/// fires and the connection and its slot live as long as the client wants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_at_the_write_deadline() {
    let stack = Stack::start_with(|c| {
        c.rtmp_handshake_timeout_secs = HANDSHAKE_TIMEOUT_SECS;
        c.rtmp_publish_timeout_secs = PUBLISH_TIMEOUT_SECS;
    })
    .await;
    let t = Instant::now();
    let mut s = handshaken(&stack).await;
    send(&mut s, &connect_cmd("live")).await;
    let mut pings = Vec::new();
    for i in 0..10_000u32 {
        let mut p = vec![0, 6];
        p.extend_from_slice(&i.to_be_bytes());
        pings.extend(control(4, &p));
    }
    // Send until the server stops reading (our writes block) or closes.
    let give_up = Instant::now() + Duration::from_secs(8);
    while Instant::now() < give_up {
        match tokio::time::timeout(Duration::from_millis(500), s.write_all(&pings)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    // Never read: the server must still close at the publish deadline.
    let deadline = Duration::from_secs(PUBLISH_TIMEOUT_SECS + 4);
    while by_reason(&stack, CLOSED).is_empty() && t.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !by_reason(&stack, CLOSED).is_empty(),
        "a client that never reads was not closed {:?} after connecting (publish deadline {PUBLISH_TIMEOUT_SECS} s)",
        t.elapsed()
    );
}

/// Bug: the chunk layer bounds each message (8 MiB) and the number of chunk streams (64) but not
/// their product: one unauthenticated connection that has not even sent `connect` can keep 64
/// partial messages of almost 8 MiB each, about 512 MiB of the ingest's memory (and 50 such
/// connections per address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_messages_are_bounded_per_connection() {
    let _serial = MEMORY.lock().await;
    let stack = Stack::start_with(|c| c.rtmp_publish_timeout_secs = 60).await;
    let mut s = handshaken(&stack).await;
    // A chunk size just under 1 MiB, then 63 chunk streams (csid 2 is the 64th) each with an
    // 8 MiB message of which 8 chunks are sent: 8 bytes short of complete.
    const CHUNK: u32 = (1 << 20) - 1;
    send(&mut s, &control(1, &CHUNK.to_be_bytes())).await;
    let before = rss();
    let peak = RssPeak::start();
    let len = (8u32 << 20).to_be_bytes();
    let body = vec![0x17u8; CHUNK as usize];
    let mut closed = false;
    'fill: for round in 0..8 {
        for c in 0..63u8 {
            // The 2-byte basic header form: csid 64 + c. Type 0 first, then type 3.
            let mut b = if round == 0 {
                let mut h = vec![0x00, c, 0, 0, 0];
                h.extend_from_slice(&len[1..]);
                h.extend_from_slice(&[9, 1, 0, 0, 0]);
                h
            } else {
                vec![0xC0, c]
            };
            b.extend_from_slice(&body);
            let sent = tokio::time::timeout(Duration::from_secs(10), s.write_all(&b)).await;
            if !matches!(sent, Ok(Ok(()))) {
                closed = true;
                break 'fill;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = peak.peak().saturating_sub(before);
    // A fix may close the connection early or refuse to buffer this much; either way the growth
    // stays small.
    assert!(
        grown < 128 << 20,
        "one pre-connect connection made the ingest grow by {} MiB (closed by the server: {closed}, {:?})",
        grown >> 20,
        by_reason(&stack, CLOSED)
    );
}

/// Bug: AMF0 decoding has no bound on the decoded size. One 8 MiB data message (a strict array
/// of ~8 M nulls, one byte each encoded, 32 bytes each decoded) sent before any publish makes the
/// ingest allocate about 290 MiB while decoding it; the connection stays open and can repeat it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amf0_decoding_is_bounded() {
    let _serial = MEMORY.lock().await;
    let stack = Stack::start_with(|c| c.rtmp_publish_timeout_secs = 60).await;
    let mut s = handshaken(&stack).await;
    send(&mut s, &control(1, &(1u32 << 20).to_be_bytes())).await;
    let n = (8usize << 20) - 64;
    let mut body = amf(&[string("onMetaData")]);
    body.push(0x0A);
    body.extend_from_slice(&(n as u32).to_be_bytes());
    body.extend(std::iter::repeat_n(0x05u8, n));
    let mut out = Vec::new();
    ChunkWriter::new(1 << 20).write(&mut out, 6, 0, 18, 1, &body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss();
    let peak = RssPeak::start();
    send(&mut s, &out).await;
    // Decoding takes a moment in a debug build; the connection stays open (it is a valid message).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown = peak.peak().saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "one 8 MiB data message made the ingest grow by {} MiB",
        grown >> 20
    );
}

/// An Enhanced RTMP HEVC (`hvc1`) sequence header against the default `video_codecs: ["h264"]`: the
/// publish is ended cleanly with a reason naming the codec, and the session ends as
/// `limits_violation`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_codec_hls_cannot_carry_is_refused_naming_it() {
    let stack = Stack::start().await;
    let (_, _, key) = stack.stream().await;
    let mut s = dial(stack.rtmp, HOSTILE_IP).await;
    let mut burst = handshake(&mut s).await;
    burst.extend(connect_cmd("live"));
    burst.extend(create_stream_cmd(2.0));
    burst.extend(publish_cmd(&key));
    send(&mut s, &burst).await;
    read_until(&mut s, b"NetStream.Publish.Start", "hevc publisher").await;
    // [IsExHeader | FrameType 1 | PacketType 0 (SequenceStart)] 'hvc1' + a config record stub.
    let header = [0x90, b'h', b'v', b'c', b'1', 1, 2, 3, 4];
    send(&mut s, &message(6, 9, 1, &header)).await;
    let said = read_until(&mut s, b"is not allowed", "codec refusal").await;
    assert!(String::from_utf8_lossy(&said).contains("video codec hevc is not allowed"));
    closed_by_server(&mut s, PROMPT, "hevc publisher").await;
    await_count(
        &stack,
        "inlet_ingest_connections_closed_total",
        "limits_violation",
        1,
        "codec refusal",
    )
    .await;
    let sessions = stack.sinks.snapshot();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ended.as_deref(), Some("limits_violation"));
    assert_eq!(sessions[0].video_frames, 0, "nothing of it was packaged");
}
