//! The RTMP server session, sans-IO: bytes in (`feed`), bytes out (`take_output`) and events out
//! (`poll_event`). It owns the handshake, the chunk layer, protocol control (chunk size, ack window,
//! peer bandwidth, ping) and the NetConnection/NetStream commands of a publisher. It owns no socket,
//! clock or task: the IO shell decides timeouts and asks the API before calling `accept_publish`.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::amf0::{self, Amf0Error, Decoder, Value};
use super::chunk::{ChunkError, ChunkLimits, ChunkReader, ChunkWriter, Message};
use super::handshake::{self, HandshakeError, PACKET_LEN};
use crate::media::{FrameKind, MediaFrame};

/// Bounds of one session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub chunk: ChunkLimits,
    /// Most `createStream` calls answered on one connection.
    pub max_streams: u32,
    /// Longest app or publish name accepted, bytes.
    pub max_name_len: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            chunk: ChunkLimits {
                max_chunk_size: 1 << 20,
                max_message_size: 8 << 20,
                max_chunk_streams: 64,
            },
            max_streams: 8,
            max_name_len: 4096,
        }
    }
}

/// Why a session cannot go on; the connection is closed with this reason.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolError {
    Handshake(HandshakeError),
    Chunk(ChunkError),
    Amf0(Amf0Error),
    /// A command out of order or malformed.
    Command(String),
}

impl ProtocolError {
    /// A short machine-readable label for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::Handshake(_) => "bad_handshake",
            ProtocolError::Chunk(ChunkError::ChunkSizeInvalid(_)) => "bad_chunk_size",
            ProtocolError::Chunk(ChunkError::MessageTooLarge(_)) => "message_too_large",
            ProtocolError::Chunk(ChunkError::TooManyChunkStreams(_)) => "too_many_chunk_streams",
            ProtocolError::Chunk(ChunkError::NoPreviousHeader(_)) => "bad_chunk_header",
            ProtocolError::Chunk(ChunkError::BufferLimit(_)) => "buffer_limit",
            ProtocolError::Amf0(_) => "bad_amf0",
            ProtocolError::Command(_) => "bad_command",
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Handshake(e) => write!(f, "handshake: {e}"),
            ProtocolError::Chunk(e) => write!(f, "chunk stream: {e}"),
            ProtocolError::Amf0(e) => write!(f, "command encoding: {e}"),
            ProtocolError::Command(e) => write!(f, "command: {e}"),
        }
    }
}

impl From<ChunkError> for ProtocolError {
    fn from(e: ChunkError) -> Self {
        ProtocolError::Chunk(e)
    }
}

impl From<Amf0Error> for ProtocolError {
    fn from(e: Amf0Error) -> Self {
        ProtocolError::Amf0(e)
    }
}

/// The first four bytes as a big-endian u32; callers check the length.
fn be_u32(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

fn command_error(msg: impl Into<String>) -> ProtocolError {
    ProtocolError::Command(msg.into())
}

/// What the session reports to its shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake completed.
    HandshakeDone,
    /// `connect` was accepted (every app is accepted here; the API judges the app at publish time so
    /// the attempt is recorded on the stream).
    Connect {
        app: String,
        tc_url: Option<String>,
        query: Option<String>,
    },
    /// The client wants to publish; answer with `accept_publish` or `reject_publish`.
    Publish { stream_id: u32, name: String },
    /// The client wants to play; answer with `reject_play`.
    Play { stream_id: u32, name: String },
    /// A media frame of the accepted publish.
    Frame(MediaFrame),
    /// The publisher ended its publish (`FCUnpublish`, `deleteStream`, `closeStream`).
    Unpublish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for C0 + C1.
    C0C1,
    /// Waiting for C2.
    C2,
    /// Chunks.
    Messages,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    None,
    Pending(u32),
    Live(u32),
    Ended,
}

// Chunk stream ids of what we send. Protocol control must be on 2 (strict clients check).
const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STREAM_STATUS: u32 = 5;

/// Our window acknowledgement size and chunk size announced on connect.
const WINDOW_ACK_SIZE: u32 = 2_500_000;
const OUT_CHUNK_SIZE: u32 = 4096;

pub struct Session {
    limits: SessionLimits,
    phase: Phase,
    inbuf: BytesMut,
    out: Vec<u8>,
    events: VecDeque<Event>,
    reader: ChunkReader,
    writer: ChunkWriter,
    connected: bool,
    app: Option<String>,
    next_stream_id: u32,
    publish: Publish,
    /// Bytes received (wrapping at 2^32, as the sequence number does).
    received: u32,
    last_ack: u32,
    peer_window: Option<u32>,
    /// Media messages dropped because no publish was accepted (yet).
    pub dropped_before_publish: u64,
}

impl Session {
    pub fn new(limits: SessionLimits) -> Session {
        Session {
            limits,
            phase: Phase::C0C1,
            inbuf: BytesMut::with_capacity(64 * 1024),
            out: Vec::with_capacity(8 * 1024),
            events: VecDeque::new(),
            reader: ChunkReader::new(limits.chunk),
            writer: ChunkWriter::new(128),
            connected: false,
            app: None,
            next_stream_id: 1,
            publish: Publish::None,
            received: 0,
            last_ack: 0,
            peer_window: None,
            dropped_before_publish: 0,
        }
    }

    /// The app of the accepted `connect`.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// Whether the handshake has completed.
    pub fn handshake_done(&self) -> bool {
        self.phase == Phase::Messages
    }

    /// Feeds received bytes. On error the connection must be closed (after sending what
    /// `take_output` holds).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.inbuf.extend_from_slice(bytes);
        self.filled(bytes.len())
    }

    /// The buffer the IO shell reads into directly (saving a copy per byte), with at least
    /// `room` bytes free; after a read of `n` bytes, call `filled(n)`.
    pub fn read_buf(&mut self, room: usize) -> &mut BytesMut {
        self.inbuf.reserve(room);
        &mut self.inbuf
    }

    /// Processes `n` bytes appended to `read_buf()`. On error the connection must be closed (after
    /// sending what `take_output` holds).
    pub fn filled(&mut self, n: usize) -> Result<(), ProtocolError> {
        self.received = self.received.wrapping_add(n as u32);
        loop {
            match self.phase {
                Phase::C0C1 => {
                    if self.inbuf.is_empty() {
                        return Ok(());
                    }
                    handshake::check_version(self.inbuf[0]).map_err(ProtocolError::Handshake)?;
                    if self.inbuf.len() < 1 + PACKET_LEN {
                        return Ok(());
                    }
                    let mut c1 = [0u8; PACKET_LEN];
                    c1.copy_from_slice(&self.inbuf[1..1 + PACKET_LEN]);
                    self.inbuf.advance(1 + PACKET_LEN);
                    self.out.extend_from_slice(&handshake::respond(&c1));
                    self.phase = Phase::C2;
                }
                Phase::C2 => {
                    if self.inbuf.len() < PACKET_LEN {
                        return Ok(());
                    }
                    self.inbuf.advance(PACKET_LEN);
                    self.phase = Phase::Messages;
                    // Protocol control right away, on chunk stream 2: it also acknowledges C2 at once,
                    // so a client with Nagle on (ffmpeg) sends `connect` without waiting ~40 ms for
                    // a delayed ACK.
                    self.send_protocol_control();
                    self.events.push_back(Event::HandshakeDone);
                }
                Phase::Messages => {
                    let (progress, msg) = self.reader.read(&mut self.inbuf)?;
                    if let Some(m) = msg {
                        self.on_message(m)?;
                    }
                    if !progress {
                        self.maybe_ack();
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Bytes to send, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether there is something to send.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn maybe_ack(&mut self) {
        if let Some(window) = self.peer_window
            && self.received.wrapping_sub(self.last_ack) >= window
        {
            self.last_ack = self.received;
            let seq = self.received.to_be_bytes();
            self.writer
                .write(&mut self.out, CSID_CONTROL, 0, 3, 0, &seq);
        }
    }

    fn send_protocol_control(&mut self) {
        self.writer.write(
            &mut self.out,
            CSID_CONTROL,
            0,
            5,
            0,
            &WINDOW_ACK_SIZE.to_be_bytes(),
        );
        let mut bw = WINDOW_ACK_SIZE.to_be_bytes().to_vec();
        bw.push(2);
        self.writer.write(&mut self.out, CSID_CONTROL, 0, 6, 0, &bw);
        self.writer.write(
            &mut self.out,
            CSID_CONTROL,
            0,
            1,
            0,
            &OUT_CHUNK_SIZE.to_be_bytes(),
        );
        self.writer.set_chunk_size(OUT_CHUNK_SIZE as usize);
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Value]) {
        let mut body = Vec::with_capacity(256);
        for v in values {
            amf0::encode(&mut body, v);
        }
        self.writer
            .write(&mut self.out, csid, 0, 20, stream_id, &body);
    }

    fn status(level: &str, code: &str, description: &str, extra: &[(&str, Value)]) -> Value {
        let mut props = vec![
            ("level", amf0::string(level)),
            ("code", amf0::string(code)),
            ("description", amf0::string(description)),
        ];
        props.extend(extra.iter().cloned());
        amf0::object(&props)
    }

    fn on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = Self::status(level, code, description, &[]);
        self.send_command(
            CSID_STREAM_STATUS,
            stream_id,
            &[
                amf0::string("onStatus"),
                Value::Number(0.0),
                Value::Null,
                info,
            ],
        );
    }

    /// Accepts the pending publish: the client gets `NetStream.Publish.Start` and media flows.
    pub fn accept_publish(&mut self, description: &str) {
        if let Publish::Pending(id) = self.publish {
            // User control StreamBegin for the stream.
            let mut ev = vec![0, 0];
            ev.extend_from_slice(&id.to_be_bytes());
            self.writer.write(&mut self.out, CSID_CONTROL, 0, 4, 0, &ev);
            self.on_status(id, "status", "NetStream.Publish.Start", description);
            self.publish = Publish::Live(id);
        }
    }

    /// Refuses the pending publish with an onStatus error the encoder prints; the shell closes the
    /// connection after sending it.
    pub fn reject_publish(&mut self, code: &str, description: &str) {
        let id = match self.publish {
            Publish::Pending(id) | Publish::Live(id) => id,
            _ => 1,
        };
        self.on_status(id, "error", code, description);
        self.publish = Publish::Ended;
    }

    /// Refuses a play request.
    pub fn reject_play(&mut self, stream_id: u32, description: &str) {
        self.on_status(stream_id, "error", "NetStream.Play.Failed", description);
    }

    /// Tells a live publisher the session is over (shutdown, kick): `NetStream.Publish.Unpublish`-like
    /// status with the reason, as an error so encoders log it.
    pub fn end_publish(&mut self, code: &str, description: &str) {
        if let Publish::Live(id) | Publish::Pending(id) = self.publish {
            self.on_status(id, "error", code, description);
            self.publish = Publish::Ended;
        }
    }

    fn on_message(&mut self, m: Message) -> Result<(), ProtocolError> {
        match m.type_id {
            1 => {
                if m.payload.len() < 4 {
                    return Err(command_error("Set Chunk Size shorter than 4 bytes"));
                }
                self.reader.set_chunk_size(be_u32(&m.payload))?;
            }
            2 if m.payload.len() >= 4 => self.reader.abort(be_u32(&m.payload)),
            3 => {}
            4 => self.on_user_control(&m.payload),
            5 if m.payload.len() >= 4 => {
                let w = be_u32(&m.payload);
                self.peer_window = (w > 0).then_some(w);
            }
            6 => {}
            8 => self.on_media(FrameKind::Audio, m),
            9 => self.on_media(FrameKind::Video, m),
            15 | 18 => {
                let body = if m.type_id == 15 {
                    m.payload.get(1..).unwrap_or(&[])
                } else {
                    &m.payload[..]
                };
                self.on_data(m.stream_id, m.timestamp, body)?;
            }
            17 | 20 => {
                let body = if m.type_id == 17 {
                    m.payload.get(1..).unwrap_or(&[])
                } else {
                    &m.payload[..]
                };
                self.on_command(m.stream_id, body)?;
            }
            22 => self.on_aggregate(m)?,
            _ => {}
        }
        Ok(())
    }

    fn on_user_control(&mut self, p: &[u8]) {
        // PingRequest (6) → PingResponse (7) with the same timestamp.
        if p.len() >= 6 && p[0] == 0 && p[1] == 6 {
            let mut resp = vec![0, 7];
            resp.extend_from_slice(&p[2..6]);
            self.writer
                .write(&mut self.out, CSID_CONTROL, 0, 4, 0, &resp);
        }
    }

    fn live_stream(&self) -> Option<u32> {
        match self.publish {
            Publish::Live(id) => Some(id),
            _ => None,
        }
    }

    fn on_media(&mut self, kind: FrameKind, m: Message) {
        if self.live_stream().is_some() {
            self.events
                .push_back(Event::Frame(MediaFrame::new(kind, m.timestamp, m.payload)));
        } else {
            self.dropped_before_publish += 1;
        }
    }

    /// Aggregate messages carry FLV tags back to back; their timestamps are relative to the first.
    fn on_aggregate(&mut self, m: Message) -> Result<(), ProtocolError> {
        let mut p = m.payload.clone();
        let mut first_ts: Option<u32> = None;
        while p.len() >= 11 {
            let tag_type = p[0];
            let size = (u32::from(p[1]) << 16 | u32::from(p[2]) << 8 | u32::from(p[3])) as usize;
            let ts = u32::from(p[7]) << 24
                | u32::from(p[4]) << 16
                | u32::from(p[5]) << 8
                | u32::from(p[6]);
            if p.len() < 11 + size + 4 {
                return Err(command_error("aggregate message truncated"));
            }
            let base = *first_ts.get_or_insert(ts);
            let timestamp = m.timestamp.wrapping_add(ts.wrapping_sub(base));
            let body = p.slice(11..11 + size);
            match tag_type {
                8 => self.on_media(
                    FrameKind::Audio,
                    Message {
                        payload: body,
                        timestamp,
                        type_id: 8,
                        ..m.clone()
                    },
                ),
                9 => self.on_media(
                    FrameKind::Video,
                    Message {
                        payload: body,
                        timestamp,
                        type_id: 9,
                        ..m.clone()
                    },
                ),
                18 => self.on_data(m.stream_id, timestamp, &body)?,
                _ => {}
            }
            p.advance(11 + size + 4);
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        _stream_id: u32,
        timestamp: u32,
        body: &[u8],
    ) -> Result<(), ProtocolError> {
        // Metadata matters only for a live publish; before that it is not even decoded.
        if self.live_stream().is_none() {
            return Ok(());
        }
        let mut d = Decoder::new(body);
        let mut values = d.all()?;
        if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
            values.remove(0);
        }
        if values.first().and_then(Value::as_str) == Some("onMetaData")
            && self.live_stream().is_some()
        {
            let mut out = Vec::new();
            for v in &values {
                amf0::encode(&mut out, v);
            }
            self.events.push_back(Event::Frame(MediaFrame::new(
                FrameKind::Metadata,
                timestamp,
                Bytes::from(out),
            )));
        }
        Ok(())
    }

    fn name_arg(&self, v: Option<&Value>, what: &str) -> Result<String, ProtocolError> {
        let name = v.and_then(Value::as_str).unwrap_or("");
        if name.len() > self.limits.max_name_len {
            return Err(command_error(format!(
                "{what} longer than {} bytes",
                self.limits.max_name_len
            )));
        }
        Ok(name.to_string())
    }

    fn on_command(&mut self, stream_id: u32, body: &[u8]) -> Result<(), ProtocolError> {
        let mut d = Decoder::new(body);
        let name = d.value()?;
        let Some(name) = name.as_str() else {
            return Err(command_error("command name is not a string"));
        };
        let txn = d.value().ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let args = d.all()?;
        match name {
            "connect" => {
                if self.connected {
                    return Err(command_error("connect sent twice"));
                }
                let obj = args.first().cloned().unwrap_or(Value::Null);
                let raw_app = self.name_arg(obj.get("app"), "app")?;
                let tc_url = obj.get("tcUrl").and_then(Value::as_str).map(str::to_string);
                // The app may carry the connect URL's query (`live?token=…`); tcUrl carries it too.
                let (app, query) = match raw_app.split_once('?') {
                    Some((a, q)) => (a.to_string(), Some(q.to_string())),
                    None => (
                        raw_app.clone(),
                        tc_url
                            .as_deref()
                            .and_then(|u| u.split_once('?'))
                            .map(|(_, q)| q.to_string()),
                    ),
                };
                let app = app.trim_end_matches('/').to_string();
                self.connected = true;
                self.app = Some(app.clone());
                // Protocol control went out when the handshake completed.
                let props = amf0::object(&[
                    ("fmsVer", amf0::string("FMS/3,5,7,7009")),
                    ("capabilities", Value::Number(31.0)),
                    ("mode", Value::Number(1.0)),
                ]);
                let info = Self::status(
                    "status",
                    "NetConnection.Connect.Success",
                    "Connection succeeded.",
                    &[("objectEncoding", Value::Number(0.0))],
                );
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[amf0::string("_result"), Value::Number(txn), props, info],
                );
                self.events.push_back(Event::Connect { app, tc_url, query });
            }
            "createStream" => {
                self.require_connected("createStream")?;
                if self.next_stream_id > self.limits.max_streams {
                    return Err(command_error(format!(
                        "more than {} createStream calls",
                        self.limits.max_streams
                    )));
                }
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        amf0::string("_result"),
                        Value::Number(txn),
                        Value::Null,
                        Value::Number(f64::from(id)),
                    ],
                );
            }
            "publish" => {
                self.require_connected("publish")?;
                if self.publish != Publish::None {
                    return Err(command_error("publish sent twice on one connection"));
                }
                let name = self.name_arg(args.get(1), "publish name")?;
                let sid = if stream_id == 0 { 1 } else { stream_id };
                self.publish = Publish::Pending(sid);
                self.events.push_back(Event::Publish {
                    stream_id: sid,
                    name,
                });
            }
            "play" => {
                self.require_connected("play")?;
                let name = self.name_arg(args.get(1), "play name")?;
                self.events.push_back(Event::Play {
                    stream_id: if stream_id == 0 { 1 } else { stream_id },
                    name,
                });
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if matches!(self.publish, Publish::Live(_) | Publish::Pending(_)) {
                    self.publish = Publish::Ended;
                    self.events.push_back(Event::Unpublish);
                }
            }
            // Optional: ffmpeg, OBS and GStreamer do not wait for an answer, but one is sent anyway
            // because it also acknowledges the command at once (a client with Nagle on holds its
            // next command until then). No onBWDone (some mobile clients disconnect on it).
            "releaseStream" | "FCPublish" => {
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        amf0::string("_result"),
                        Value::Number(txn),
                        Value::Null,
                        Value::Undefined,
                    ],
                );
            }
            "_checkbw" | "getStreamLength" | "_result" | "_error" | "onBWDone" => {}
            _ => {}
        }
        Ok(())
    }

    fn require_connected(&self, what: &str) -> Result<(), ProtocolError> {
        if self.connected {
            Ok(())
        } else {
            Err(command_error(format!("{what} before connect")))
        }
    }
}

#[cfg(test)]
mod tests;
