//! The fuzz drivers, shared by the cargo-fuzz targets in `fuzz_targets/` (via `#[path]`) and by the
//! corpus replay test `ingest/tests/fuzz_corpus.rs` (also via `#[path]`), so every input the fuzzer
//! ever found interesting replays through exactly the same code under a plain `cargo test`.
//!
//! Each driver takes arbitrary bytes. Protocol errors are expected and fine; a panic (including a
//! failed assertion below, an arithmetic overflow, an out-of-bounds index) is a bug. The assertions
//! are invariants the protocol core promises, not just "did not crash".

use bytes::BytesMut;
use inlet_contract::limits::Limits;
use inlet_ingest::hls::segmenter::{HlsSettings, Output, Segmenter};
use inlet_ingest::media::MediaFrame;
use inlet_ingest::policy::Policy;
use inlet_ingest::rtmp::amf0::{self, Decoder};
use inlet_ingest::rtmp::chunk::{ChunkLimits, ChunkReader, ChunkWriter, Message};
use inlet_ingest::rtmp::handshake::PACKET_LEN;
use inlet_ingest::rtmp::{Event, Session, SessionLimits};

/// Record tags of the `chunk` target's input (see [`chunk`]).
pub const CHUNK_OP_SET_CHUNK_SIZE: u8 = 0xFE;
pub const CHUNK_OP_ABORT: u8 = 0xFF;

/// Small limits for the `chunk` target, so the fuzzer reaches every bound quickly.
pub const CHUNK_LIMITS: ChunkLimits = ChunkLimits {
    max_chunk_size: 256,
    max_message_size: 1024,
    max_chunk_streams: 4,
};

/// Length of S0 + S1 + S2, the start of every server output.
pub const SERVER_HELLO_LEN: usize = 1 + 2 * PACKET_LEN;

/// Splits `data` into pieces as `mode` says: 0 = all at once, 1 = one byte at a time, otherwise
/// pseudo-random sizes in `1..=16 * mode` from a generator seeded with `mode`.
pub fn pieces(mode: u8, data: &[u8]) -> Vec<&[u8]> {
    match mode {
        0 => vec![data],
        1 => data.chunks(1).collect(),
        _ => {
            let max = 16 * usize::from(mode);
            let mut state = u32::from(mode) | 0x9E37_7900;
            let mut out = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                // xorshift32
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let n = (state as usize % max + 1).min(rest.len());
                let (head, tail) = rest.split_at(n);
                out.push(head);
                rest = tail;
            }
            out
        }
    }
}

/// Reads the server's output after its S0/S1/S2 as a client would, following the server's Set Chunk
/// Size messages; the server must only ever send a valid chunk stream of decodable commands.
struct OutputChecker {
    reader: ChunkReader,
    buf: BytesMut,
    hello_skipped: usize,
}

impl OutputChecker {
    fn new() -> OutputChecker {
        OutputChecker {
            reader: ChunkReader::new(SessionLimits::default().chunk),
            buf: BytesMut::new(),
            hello_skipped: 0,
        }
    }

    fn check(&mut self, mut out: &[u8]) {
        if self.hello_skipped < SERVER_HELLO_LEN {
            if self.hello_skipped == 0 && !out.is_empty() {
                assert_eq!(out[0], 3, "S0 must be version 3");
            }
            let n = (SERVER_HELLO_LEN - self.hello_skipped).min(out.len());
            self.hello_skipped += n;
            out = &out[n..];
        }
        self.buf.extend_from_slice(out);
        loop {
            let (progress, msg) = self
                .reader
                .read(&mut self.buf)
                .expect("server output is a valid chunk stream");
            if let Some(m) = msg {
                check_server_message(&mut self.reader, &m);
            }
            if !progress {
                return;
            }
        }
    }
}

fn check_server_message(reader: &mut ChunkReader, m: &Message) {
    match m.type_id {
        1 => {
            assert!(m.payload.len() >= 4, "Set Chunk Size payload");
            let size = u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]);
            reader
                .set_chunk_size(size)
                .expect("server announces a valid chunk size");
        }
        20 => {
            let values = Decoder::new(&m.payload)
                .all()
                .expect("server commands are valid AMF0");
            assert!(
                values.first().and_then(amf0::Value::as_str).is_some(),
                "server command starts with its name"
            );
        }
        _ => {}
    }
}

/// What the IO shell does with a session's frames: the stream limits measure them and the HLS
/// segmenter packages them (both parse peer-controlled codec data).
pub struct Media {
    policy: Policy,
    segmenter: Segmenter,
    out: Vec<Output>,
}

impl Media {
    fn new() -> Media {
        Media {
            policy: Policy::new(Limits::default()),
            segmenter: Segmenter::new(HlsSettings::default(), "fuzz"),
            out: Vec::new(),
        }
    }

    fn frame(&mut self, f: &MediaFrame) {
        let _ = self.policy.frame(f);
        let _ = self.policy.health(0, 0);
        self.segmenter.push(f, std::time::UNIX_EPOCH, &mut self.out);
        // Segments and playlists are only counted, not kept, so memory stays flat.
        self.out.clear();
    }
}

/// Drains a session's events, answering a publish request as the IO shell would after the API said
/// yes (so the media paths are reached), refusing plays, and handing frames to `media`.
fn drain_events(session: &mut Session, media: &mut Media) {
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::Publish { .. } => session.accept_publish("fuzz"),
            Event::Play { stream_id, .. } => session.reject_play(stream_id, "fuzz"),
            Event::Frame(f) => media.frame(&f),
            Event::HandshakeDone | Event::Connect { .. } | Event::Unpublish => {}
        }
    }
}

/// Feeds pieces to a session until it fails, checking its output all along.
fn run_session(session: &mut Session, checker: &mut OutputChecker, pieces: &[&[u8]]) {
    let mut media = Media::new();
    for piece in pieces {
        let result = session.feed(piece);
        drain_events(session, &mut media);
        checker.check(&session.take_output());
        if result.is_err() {
            return;
        }
    }
}

/// `handshake` target: a fresh session fed arbitrary bytes; byte 0 chooses how they are split
/// (see [`pieces`]).
pub fn handshake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(SessionLimits::default());
    let mut checker = OutputChecker::new();
    let mut fed = 0usize;
    let mut media = Media::new();
    for piece in pieces(mode, rest) {
        let result = session.feed(piece);
        fed += piece.len();
        drain_events(&mut session, &mut media);
        checker.check(&session.take_output());
        if fed > 0 && rest[0] != 3 {
            assert!(result.is_err(), "C0 other than 3 is refused");
        }
        if fed > 2 * PACKET_LEN {
            // C0 + C1 + C2 are in.
            assert!(
                result.is_err() || session.handshake_done(),
                "C0 + C1 + C2 complete the handshake"
            );
        }
        if fed > PACKET_LEN && result.is_ok() {
            // C0 + C1 are in (C0 was 3, or this would have failed).
            assert_eq!(
                checker.hello_skipped, SERVER_HELLO_LEN,
                "S0 + S1 + S2 answer C0 + C1"
            );
        }
        if result.is_err() {
            return;
        }
    }
}

/// `session` target: a session past a valid simple handshake, then the fuzz input as the client's
/// chunk stream; byte 0 chooses how it is split (see [`pieces`]). Publishes are accepted as soon
/// as they are asked for, so media, metadata and aggregates reach the frame paths.
pub fn session(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(SessionLimits::default());
    let mut checker = OutputChecker::new();
    let mut hello = vec![3u8];
    hello.resize(1 + PACKET_LEN, 0);
    session.feed(&hello).expect("C0 + C1");
    session.feed(&[0u8; PACKET_LEN]).expect("C2");
    assert!(session.handshake_done());
    drain_events(&mut session, &mut Media::new());
    checker.check(&session.take_output());
    run_session(&mut session, &mut checker, &pieces(mode, rest));
}

/// `chunk` target: a [`ChunkReader`] with [`CHUNK_LIMITS`]. The input is a sequence of records:
/// `0xFE` + 4 bytes (big-endian) calls `set_chunk_size`, `0xFF` + 1 byte calls `abort` on that
/// chunk stream, any other byte `n` is followed by `n + 1` bytes of chunk stream appended to the
/// reader's buffer (fewer at the end of the input), after which the reader is run while it makes
/// progress. The messages read are written again with [`ChunkWriter`] and must read back equal.
pub fn chunk(data: &[u8]) {
    let mut reader = ChunkReader::new(CHUNK_LIMITS);
    let mut chunk_size = 128u32;
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut rest = data;
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        match tag {
            CHUNK_OP_SET_CHUNK_SIZE => {
                let Some((size, tail)) = rest.split_first_chunk::<4>() else {
                    break;
                };
                rest = tail;
                let size = u32::from_be_bytes(*size);
                if reader.set_chunk_size(size).is_ok() {
                    chunk_size = size;
                }
            }
            CHUNK_OP_ABORT => {
                let Some((&csid, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                reader.abort(u32::from(csid));
            }
            n => {
                let (bytes, tail) = rest.split_at((usize::from(n) + 1).min(rest.len()));
                rest = tail;
                buf.extend_from_slice(bytes);
                loop {
                    let before = buf.len();
                    let Ok((progress, msg)) = reader.read(&mut buf) else {
                        return check_rewrite(&messages);
                    };
                    if progress {
                        assert!(buf.len() < before, "progress consumes input");
                    } else {
                        assert_eq!(buf.len(), before, "no progress leaves input untouched");
                    }
                    if let Some(m) = msg {
                        assert!(m.payload.len() <= CHUNK_LIMITS.max_message_size as usize);
                        messages.push((chunk_size, m));
                    }
                    if !progress {
                        break;
                    }
                }
            }
        }
    }
    check_rewrite(&messages);
}

/// Writes messages with the writer, at the chunk size they were read with, and reads them back.
fn check_rewrite(messages: &[(u32, Message)]) {
    let mut reader = ChunkReader::new(CHUNK_LIMITS);
    for (chunk_size, m) in messages {
        let writer = ChunkWriter::new(*chunk_size as usize);
        reader.set_chunk_size(*chunk_size).expect("chunk size");
        let mut out = Vec::new();
        writer.write(&mut out, 3, m.timestamp, m.type_id, m.stream_id, &m.payload);
        let mut buf = BytesMut::from(&out[..]);
        let (progress, back) = reader.read(&mut buf).expect("writer output reads back");
        assert!(progress);
        let mut back = back;
        while back.is_none() {
            let (progress, m) = reader.read(&mut buf).expect("writer output reads back");
            assert!(progress, "writer output is complete");
            back = m;
        }
        let back = back.expect("a message");
        assert!(buf.is_empty(), "one message, nothing left over");
        assert_eq!(
            (back.timestamp, back.type_id, back.stream_id, &back.payload),
            (m.timestamp, m.type_id, m.stream_id, &m.payload),
            "chunk writer/reader round trip"
        );
    }
}

/// `amf0` target: decodes values one by one until the input ends or an error, checks `all()` agrees,
/// then encodes what decoded, decodes that again and encodes it once more: both encodings must be
/// byte-identical (bytes, not values, so NaN numbers compare equal).
pub fn amf0(data: &[u8]) {
    let mut d = Decoder::new(data);
    let mut values = Vec::new();
    let mut failed = false;
    while !d.is_empty() {
        match d.value() {
            Ok(v) => values.push(v),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let _ = d.rest();
    let all = Decoder::new(data).all();
    assert_eq!(all.is_err(), failed, "all() agrees with value() in a loop");

    let mut once = Vec::new();
    for v in &values {
        amf0::encode(&mut once, v);
    }
    let again = Decoder::new(&once)
        .all()
        .expect("what we encode decodes again");
    assert_eq!(again.len(), values.len());
    let mut twice = Vec::new();
    for v in &again {
        amf0::encode(&mut twice, v);
    }
    assert!(once == twice, "AMF0 encode/decode round trip");
}
