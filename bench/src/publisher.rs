//! A cheap RTMP publisher for load generation: the client side of the handshake and of the
//! `connect` / `createStream` / `publish` exchange, timed phase by phase, then a pre-chunked FLV
//! source paced in real time. Many publishers run as tasks of one Tokio runtime; what they sent and
//! how long their publishes took to be accepted is gathered in a shared [`LoadState`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use inlet_ingest::rtmp::amf0::{self, Decoder, Value};
use inlet_ingest::rtmp::chunk::{ChunkLimits, ChunkReader, ChunkWriter, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::flv::{Cursor, Source};

/// Size of C1/C2/S1/S2.
const PACKET_LEN: usize = 1536;
/// Chunk streams of our commands (as ffmpeg numbers them: control 2, commands 3, stream 8).
const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STREAM: u32 = 8;
/// Longest a single publish attempt (TCP connect to onStatus) may take.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub app: String,
    /// Chunk size announced with Set Chunk Size (the source must be pre-chunked at the same size).
    pub chunk_size: u32,
    pub style: ClientStyle,
}

/// How the client writes its handshake and commands: encoders differ, and with Nagle's algorithm on
/// the difference shows in the accept latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientStyle {
    /// TCP_NODELAY on; each step's messages in one write (as librtmp-based encoders such as OBS).
    Nodelay,
    /// TCP_NODELAY off; every message in a write of its own (as ffmpeg's native RTMP client, which
    /// does not set TCP_NODELAY and even writes chunk headers and bodies separately).
    Ffmpeg,
}

impl ClientStyle {
    pub fn label(self) -> &'static str {
        match self {
            ClientStyle::Nodelay => "TCP_NODELAY, batched writes",
            ClientStyle::Ffmpeg => "ffmpeg-like: Nagle on, a write per message",
        }
    }
}

impl Target {
    fn tc_url(&self) -> String {
        format!("rtmp://{}/{}", self.addr, self.app)
    }
}

/// Times from the start of the TCP connect to the end of each phase of one publish.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// TCP connected.
    pub tcp: Duration,
    /// S0 + S1 + S2 received.
    pub handshake: Duration,
    /// `_result` of `connect` received.
    pub connect: Duration,
    /// `_result` of `createStream` received.
    pub create_stream: Duration,
    /// `onStatus` `NetStream.Publish.Start` received: the accept latency.
    pub publish: Duration,
}

/// A publisher's connection once `NetStream.Publish.Start` arrived.
pub struct Published {
    pub stream: TcpStream,
    pub stream_id: u32,
    pub phases: Phases,
}

/// Reads RTMP messages from the server.
struct MessageReader {
    reader: ChunkReader,
    buf: BytesMut,
}

impl MessageReader {
    fn new() -> MessageReader {
        MessageReader {
            reader: ChunkReader::new(ChunkLimits {
                max_chunk_size: 1 << 24,
                max_message_size: 1 << 24,
                max_chunk_streams: 64,
            }),
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// The next message, reading from `stream` as needed. Applies the server's Set Chunk Size.
    async fn next(&mut self, stream: &mut TcpStream) -> anyhow::Result<Message> {
        loop {
            loop {
                let (progress, msg) = self
                    .reader
                    .read(&mut self.buf)
                    .map_err(|e| anyhow::anyhow!("bad chunk from the server: {e}"))?;
                if let Some(m) = msg {
                    if m.type_id == 1 && m.payload.len() >= 4 {
                        let size = u32::from_be_bytes([
                            m.payload[0],
                            m.payload[1],
                            m.payload[2],
                            m.payload[3],
                        ]);
                        self.reader
                            .set_chunk_size(size & 0x7FFF_FFFF)
                            .map_err(|e| anyhow::anyhow!("server chunk size: {e}"))?;
                    }
                    return Ok(m);
                }
                if !progress {
                    break;
                }
            }
            let n = stream.read_buf(&mut self.buf).await?;
            if n == 0 {
                bail!("the server closed the connection");
            }
        }
    }

    /// Reads until a command named `_result`/`_error` with transaction `txn`, or `onStatus`
    /// (when `txn` is `None`). Returns the command's values.
    async fn command(
        &mut self,
        stream: &mut TcpStream,
        txn: Option<f64>,
    ) -> anyhow::Result<Vec<Value>> {
        loop {
            let m = self.next(stream).await?;
            if m.type_id != 20 {
                continue;
            }
            let values = Decoder::new(&m.payload)
                .all()
                .map_err(|e| anyhow::anyhow!("bad AMF0 from the server: {e}"))?;
            let name = values.first().and_then(Value::as_str).unwrap_or("");
            let this_txn = values.get(1).and_then(Value::as_f64);
            match (name, txn) {
                ("_result" | "_error", Some(t)) if this_txn == Some(t) => return Ok(values),
                ("onStatus", None) => return Ok(values),
                ("onStatus", Some(_)) => {
                    // An error status before the answer we wait for ends the attempt.
                    let info = values.get(3);
                    if info.and_then(|i| i.get("level")).and_then(Value::as_str) == Some("error") {
                        return Ok(values);
                    }
                }
                _ => {}
            }
        }
    }
}

fn command(writer: &ChunkWriter, out: &mut Vec<u8>, csid: u32, stream_id: u32, values: &[Value]) {
    let mut body = Vec::with_capacity(256);
    for v in values {
        amf0::encode(&mut body, v);
    }
    writer.write(out, csid, 0, 20, stream_id, &body);
}

/// Sends `messages` (each already chunked): in one write, or one write each in the ffmpeg style.
async fn send(
    stream: &mut TcpStream,
    style: ClientStyle,
    messages: &[Vec<u8>],
) -> anyhow::Result<()> {
    match style {
        ClientStyle::Nodelay => stream.write_all(&messages.concat()).await?,
        ClientStyle::Ffmpeg => {
            for m in messages {
                stream.write_all(m).await?;
            }
        }
    }
    Ok(())
}

fn status_of(values: &[Value]) -> (String, String) {
    let info = values.get(3);
    let field = |k: &str| {
        info.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (field("code"), field("description"))
}

/// Connects and publishes `name`, timing each phase from the start of the TCP connect. Fails on a
/// refusal (`_error`, an error `onStatus`), a closed connection or [`PUBLISH_TIMEOUT`].
pub async fn publish(target: &Target, name: &str) -> anyhow::Result<Published> {
    tokio::time::timeout(PUBLISH_TIMEOUT, publish_inner(target, name))
        .await
        .unwrap_or_else(|_| bail!("no NetStream.Publish.Start within {PUBLISH_TIMEOUT:?}"))
}

async fn publish_inner(target: &Target, name: &str) -> anyhow::Result<Published> {
    let t0 = Instant::now();
    let mut phases = Phases::default();
    let mut stream = TcpStream::connect(target.addr)
        .await
        .context("TCP connect")?;
    stream.set_nodelay(target.style == ClientStyle::Nodelay)?;
    phases.tcp = t0.elapsed();

    // C0 + C1: version 3, time 0, zero field 0 (the simple handshake), arbitrary bytes.
    let mut c0c1 = vec![3u8; 1 + PACKET_LEN];
    c0c1[1..9].fill(0);
    for (i, b) in c0c1[9..].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    stream.write_all(&c0c1).await?;
    let mut s = vec![0u8; 1 + 2 * PACKET_LEN];
    stream.read_exact(&mut s).await.context("reading S0S1S2")?;
    if s[0] != 3 {
        bail!("server answered version {}", s[0]);
    }
    phases.handshake = t0.elapsed();
    // C2 echoes S1. ffmpeg writes it on its own; the batched style sends it with what follows.
    let c2 = s[1..1 + PACKET_LEN].to_vec();

    // The batched style sends Set Chunk Size first and connect chunked at the new size; ffmpeg sends
    // connect at the default 128 and Set Chunk Size after connect's answer.
    let mut writer = ChunkWriter::new(128);
    let mut set_chunk = Vec::with_capacity(16);
    writer.write(
        &mut set_chunk,
        CSID_CONTROL,
        0,
        1,
        0,
        &target.chunk_size.to_be_bytes(),
    );
    if target.style == ClientStyle::Nodelay {
        writer.set_chunk_size(target.chunk_size as usize);
    }
    let tc_url = target.tc_url();
    let mut connect = Vec::with_capacity(512);
    command(
        &writer,
        &mut connect,
        CSID_COMMAND,
        0,
        &[
            amf0::string("connect"),
            Value::Number(1.0),
            amf0::object(&[
                ("app", amf0::string(&target.app)),
                ("type", amf0::string("nonprivate")),
                (
                    "flashVer",
                    amf0::string("FMLE/3.0 (compatible; inlet-bench)"),
                ),
                ("tcUrl", amf0::string(&tc_url)),
            ]),
        ],
    );
    let mut msgs = Vec::with_capacity(4);
    match target.style {
        ClientStyle::Nodelay => {
            stream.write_all(&c2).await?;
            send(&mut stream, target.style, &[set_chunk, connect]).await?;
        }
        ClientStyle::Ffmpeg => {
            send(&mut stream, target.style, &[c2, connect]).await?;
            writer.set_chunk_size(target.chunk_size as usize);
            msgs.push(set_chunk);
        }
    }
    let mut reader = MessageReader::new();
    let answer = reader.command(&mut stream, Some(1.0)).await?;
    if answer.first().and_then(Value::as_str) != Some("_result") {
        let (code, description) = status_of(&answer);
        bail!("connect refused: {code} {description}");
    }
    phases.connect = t0.elapsed();

    // releaseStream, FCPublish and createStream, as encoders send them.
    for (txn, cmd) in [(2.0, "releaseStream"), (3.0, "FCPublish")] {
        let mut m = Vec::with_capacity(64);
        command(
            &writer,
            &mut m,
            CSID_COMMAND,
            0,
            &[
                amf0::string(cmd),
                Value::Number(txn),
                Value::Null,
                amf0::string(name),
            ],
        );
        msgs.push(m);
    }
    let mut m = Vec::with_capacity(64);
    command(
        &writer,
        &mut m,
        CSID_COMMAND,
        0,
        &[
            amf0::string("createStream"),
            Value::Number(4.0),
            Value::Null,
        ],
    );
    msgs.push(m);
    send(&mut stream, target.style, &msgs).await?;
    let answer = reader.command(&mut stream, Some(4.0)).await?;
    if answer.first().and_then(Value::as_str) != Some("_result") {
        let (code, description) = status_of(&answer);
        bail!("createStream refused: {code} {description}");
    }
    let stream_id = answer
        .get(3)
        .and_then(Value::as_f64)
        .context("createStream answered no stream id")? as u32;
    phases.create_stream = t0.elapsed();

    let mut m = Vec::with_capacity(128);
    command(
        &writer,
        &mut m,
        CSID_STREAM,
        stream_id,
        &[
            amf0::string("publish"),
            Value::Number(5.0),
            Value::Null,
            amf0::string(name),
            amf0::string("live"),
        ],
    );
    send(&mut stream, target.style, &[m]).await?;
    loop {
        let status = reader.command(&mut stream, None).await?;
        let (code, description) = status_of(&status);
        match code.as_str() {
            "NetStream.Publish.Start" => break,
            c if c.starts_with("NetStream.Publish.") || c.contains("Failed") => {
                bail!("publish refused: {code} {description}")
            }
            _ => {}
        }
    }
    phases.publish = t0.elapsed();
    Ok(Published {
        stream,
        stream_id,
        phases,
    })
}

/// What the publishers of one load share with whoever watches them.
#[derive(Default)]
pub struct LoadState {
    /// Bytes written to the servers' sockets since the load started (media after the accept).
    pub bytes: AtomicU64,
    /// Publishers currently streaming.
    pub live: AtomicUsize,
    /// Publishers whose attempt ended, accepted or not.
    pub settled: AtomicUsize,
    /// Publishers cut off by the server after they were accepted.
    pub dropped: AtomicUsize,
    pub accepted: Mutex<Vec<Phases>>,
    pub failures: Mutex<Vec<String>>,
    /// When each accepted publisher (by name) read `NetStream.Publish.Start`.
    pub published_at: Mutex<Vec<(String, Instant)>>,
}

impl LoadState {
    pub fn accepted(&self) -> Vec<Phases> {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the publisher `name` was accepted, if it was.
    pub fn published_at(&self, name: &str) -> Option<Instant> {
        self.published_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How a load runs.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub target: Target,
    /// One publisher per name.
    pub names: Vec<String>,
    /// Connects started per second (publisher `i` starts `i / rate` seconds after the load).
    pub connect_rate: f64,
    /// After the accept: stream the source (true) or close at once (an accept-latency probe).
    pub stream: bool,
    /// How often a publisher writes what has come due (one write per tick).
    pub tick: Duration,
}

/// A running load: publishers as tasks on the current runtime. Dropping it aborts them all.
pub struct Load {
    pub state: Arc<LoadState>,
    tasks: JoinSet<()>,
    pub started: Instant,
    count: usize,
}

impl Load {
    /// Starts every publisher (each waits for its slot). Must be called inside a Tokio runtime.
    pub fn start(spec: LoadSpec, source: Arc<Source>) -> Load {
        let state = Arc::new(LoadState::default());
        let mut tasks = JoinSet::new();
        let started = Instant::now();
        let count = spec.names.len();
        let spec = Arc::new(spec);
        for i in 0..count {
            let (spec, source, state) = (spec.clone(), source.clone(), state.clone());
            let slot = started + Duration::from_secs_f64(i as f64 / spec.connect_rate);
            tasks.spawn(async move {
                tokio::time::sleep_until(slot).await;
                run_publisher(&spec, &spec.names[i], &source, &state).await;
            });
        }
        Load {
            state,
            tasks,
            started,
            count,
        }
    }

    /// Waits until every publisher was accepted or failed (or `limit` passed); returns how many are
    /// streaming.
    pub async fn wait_settled(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        while self.state.settled.load(Ordering::Relaxed) < self.count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.state.live.load(Ordering::Relaxed)
    }

    /// Waits for probes (non-streaming loads) to end.
    pub async fn join(mut self) -> Arc<LoadState> {
        while self.tasks.join_next().await.is_some() {}
        self.state.clone()
    }

    /// Aborts every publisher (their connections close) and returns the state.
    pub async fn stop(mut self) -> Arc<LoadState> {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.state.clone()
    }
}

async fn run_publisher(spec: &LoadSpec, name: &str, source: &Source, state: &LoadState) {
    let published = match publish(&spec.target, name).await {
        Ok(p) => p,
        Err(e) => {
            state
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{e:#}"));
            state.settled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    state
        .accepted
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(published.phases);
    state
        .published_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((name.to_string(), Instant::now()));
    if !spec.stream {
        state.settled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    state.live.fetch_add(1, Ordering::Relaxed);
    state.settled.fetch_add(1, Ordering::Relaxed);
    let (mut rd, mut wr) = published.stream.into_split();
    let stream_id = published.stream_id;
    // Drain what the server sends (acknowledgements) so its socket never fills; it ends when the
    // server closes the connection.
    let drain = async move {
        let mut sink = vec![0u8; 4096];
        loop {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let pace = async move {
        let start = Instant::now();
        let mut cursor = Cursor::default();
        let mut batch = Vec::with_capacity(256 * 1024);
        let mut ticker = tokio::time::interval(spec.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let due = start.elapsed().as_millis() as u64;
            batch.clear();
            if source.fill(&mut cursor, due, stream_id, &mut batch) == 0 {
                continue;
            }
            if wr.write_all(&batch).await.is_err() {
                return;
            }
            state.bytes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    };
    tokio::select! {
        _ = drain => {}
        _ = pace => {}
    }
    state.live.fetch_sub(1, Ordering::Relaxed);
    state.dropped.fetch_add(1, Ordering::Relaxed);
}
