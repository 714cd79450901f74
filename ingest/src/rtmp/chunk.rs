//! The chunk stream layer (RTMP spec §5.3): reassembles messages from interleaved chunks with all four
//! header formats, extended timestamps (including on type-3 chunks, detected per peer), chunk-size
//! changes at any point and aborts; and splits outgoing messages into chunks. Every bound is explicit:
//! chunk size, message size and the number of chunk streams a peer may open.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

/// Most bytes reserved ahead for a message being reassembled (beyond what has arrived).
const RESERVE_CAP: usize = 64 * 1024;

/// Limits the reader enforces.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Largest chunk size a peer may set.
    pub max_chunk_size: u32,
    /// Largest message a peer may send.
    pub max_message_size: u32,
    /// Most distinct chunk stream ids one connection may use.
    pub max_chunk_streams: usize,
}

/// One reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub csid: u32,
    pub timestamp: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    ChunkSizeInvalid(u32),
    MessageTooLarge(u32),
    TooManyChunkStreams(usize),
    /// Partial messages of all chunk streams together exceed the per-connection budget.
    BufferLimit(u32),
    NoPreviousHeader(u32),
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkError::ChunkSizeInvalid(n) => {
                write!(f, "peer set chunk size {n}, outside 1..=limit")
            }
            ChunkError::MessageTooLarge(n) => write!(f, "message of {n} bytes exceeds the limit"),
            ChunkError::BufferLimit(n) => {
                write!(
                    f,
                    "partial messages buffered beyond {n} bytes on one connection"
                )
            }
            ChunkError::TooManyChunkStreams(n) => {
                write!(f, "more than {n} chunk streams on one connection")
            }
            ChunkError::NoPreviousHeader(c) => {
                write!(
                    f,
                    "chunk on stream {c} continues a header that was never sent"
                )
            }
        }
    }
}

#[derive(Debug, Default)]
struct StreamState {
    /// The header of the message being (or last) received.
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The last header carried an extended timestamp (so type-3 chunks may repeat it).
    extended: bool,
    /// The raw value of the last extended timestamp field.
    ext_value: u32,
    has_header: bool,
    partial: BytesMut,
}

impl StreamState {
    /// The completed message with this stream's current header.
    fn message(&self, csid: u32, payload: Bytes) -> Message {
        Message {
            csid,
            timestamp: self.timestamp,
            type_id: self.type_id,
            stream_id: self.stream_id,
            payload,
        }
    }
}

/// Chunk stream ids below this live in an array (encoders use 2–8); others in a map.
const DIRECT_CSIDS: usize = 64;

/// The state of every chunk stream of a connection: one indexed lookup for the usual ids.
#[derive(Default)]
struct Streams {
    direct: Vec<Option<StreamState>>,
    other: HashMap<u32, StreamState>,
    count: usize,
}

impl Streams {
    fn get_mut(&mut self, csid: u32) -> Option<&mut StreamState> {
        match usize::try_from(csid) {
            Ok(i) if i < DIRECT_CSIDS => self.direct.get_mut(i).and_then(Option::as_mut),
            _ => self.other.get_mut(&csid),
        }
    }

    /// The state of `csid`, created if absent.
    fn get_or_insert(&mut self, csid: u32) -> &mut StreamState {
        match usize::try_from(csid) {
            Ok(i) if i < DIRECT_CSIDS => {
                if self.direct.len() <= i {
                    self.direct.resize_with(DIRECT_CSIDS, || None);
                }
                let slot = &mut self.direct[i];
                if slot.is_none() {
                    self.count += 1;
                }
                slot.get_or_insert_with(StreamState::default)
            }
            _ => {
                let count = &mut self.count;
                self.other.entry(csid).or_insert_with(|| {
                    *count += 1;
                    StreamState::default()
                })
            }
        }
    }
}

/// Reassembles messages from a byte stream.
pub struct ChunkReader {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: Streams,
    /// Whether this peer repeats the extended timestamp on type-3 chunks (learned on first sight).
    type3_ext: Option<bool>,
    /// Bytes held in partial messages across all chunk streams.
    buffered: usize,
}

impl ChunkReader {
    pub fn new(limits: ChunkLimits) -> ChunkReader {
        ChunkReader {
            limits,
            chunk_size: 128,
            streams: Streams::default(),
            type3_ext: None,
            buffered: 0,
        }
    }

    /// Applies a Set Chunk Size from the peer.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        // The top bit must be zero; zero makes no progress.
        if size == 0 || size > self.limits.max_chunk_size || size > 0x7FFF_FFFF {
            return Err(ChunkError::ChunkSizeInvalid(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops a partially received message (Abort Message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.get_mut(csid) {
            self.buffered -= s.partial.len();
            s.partial.clear();
        }
    }

    /// Reads one chunk from `buf` if it is complete; returns the message it completed, if any.
    /// `Ok(None)` with `buf` untouched means more bytes are needed... or a chunk was consumed that did
    /// not complete a message: the caller loops while `progress` is true.
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<(bool, Option<Message>), ChunkError> {
        let avail = buf.len();
        if avail < 1 {
            return Ok((false, None));
        }
        let b0 = buf[0];
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3F {
            0 => {
                if avail < 2 {
                    return Ok((false, None));
                }
                (u32::from(buf[1]) + 64, 2)
            }
            1 => {
                if avail < 3 {
                    return Ok((false, None));
                }
                (u32::from(buf[2]) * 256 + u32::from(buf[1]) + 64, 3)
            }
            n => (u32::from(n), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        if avail < pos + header_len {
            return Ok((false, None));
        }
        let known = self.streams.get_mut(csid).is_some();
        if !known {
            if fmt != 0 {
                return Err(ChunkError::NoPreviousHeader(csid));
            }
            if self.streams.count >= self.limits.max_chunk_streams {
                return Err(ChunkError::TooManyChunkStreams(
                    self.limits.max_chunk_streams,
                ));
            }
        }
        let h = &buf[pos..pos + header_len];
        let u24 = |b: &[u8]| u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let (ts_field, length, type_id, stream_id) = match fmt {
            0 => (
                Some(u24(&h[0..3])),
                Some(u24(&h[3..6])),
                Some(h[6]),
                Some(u32::from_le_bytes([h[7], h[8], h[9], h[10]])),
            ),
            1 => (Some(u24(&h[0..3])), Some(u24(&h[3..6])), Some(h[6]), None),
            2 => (Some(u24(&h[0..3])), None, None, None),
            _ => (None, None, None, None),
        };
        pos += header_len;

        let state = self.streams.get_or_insert(csid);
        if fmt != 0 && !state.has_header {
            return Err(ChunkError::NoPreviousHeader(csid));
        }
        let starting = state.partial.is_empty();
        // Extended timestamp.
        let mut ext = None;
        match ts_field {
            Some(0xFF_FFFF) => {
                if buf.len() < pos + 4 {
                    return Ok((false, None));
                }
                ext = Some(u32::from_be_bytes([
                    buf[pos],
                    buf[pos + 1],
                    buf[pos + 2],
                    buf[pos + 3],
                ]));
                pos += 4;
            }
            Some(_) => {}
            None if state.extended => {
                // Type 3 after an extended header: some peers repeat the field, some do not. Learn it
                // from the first such chunk by comparing with the value last sent.
                if buf.len() < pos + 4 {
                    return Ok((false, None));
                }
                let candidate =
                    u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
                let repeats = *self.type3_ext.get_or_insert(candidate == state.ext_value);
                if repeats {
                    ext = Some(candidate);
                    pos += 4;
                }
            }
            None => {}
        }
        let length_now = length.unwrap_or(state.length);
        if length_now > self.limits.max_message_size {
            return Err(ChunkError::MessageTooLarge(length_now));
        }
        let have = state.partial.len() as u32;
        let want = (length_now.saturating_sub(have)).min(self.chunk_size) as usize;
        if buf.len() < pos + want {
            return Ok((false, None));
        }

        // One budget for every partial message of the connection, so many chunk streams cannot each
        // hold a maximum-size message.
        if self.buffered + want > self.limits.max_message_size as usize {
            return Err(ChunkError::BufferLimit(self.limits.max_message_size));
        }
        // The whole chunk is here: commit header changes.
        if let Some(l) = length {
            state.length = l;
        }
        if let Some(t) = type_id {
            state.type_id = t;
        }
        if let Some(s) = stream_id {
            state.stream_id = s;
        }
        let field = ext.or(ts_field.filter(|t| *t != 0xFF_FFFF));
        match (fmt, field) {
            (0, Some(v)) => {
                // As ffmpeg and librtmp read it: a type-3 header starting the next message repeats
                // this field as its delta.
                state.timestamp = v;
                state.delta = v;
            }
            (1 | 2, Some(v)) => {
                state.delta = v;
                state.timestamp = state.timestamp.wrapping_add(v);
            }
            // Type 3 starting a new message repeats the previous delta.
            (3, _) if starting && state.has_header => {
                state.timestamp = state.timestamp.wrapping_add(state.delta);
            }
            _ => {}
        }
        if fmt != 3 {
            state.extended = ext.is_some();
            if let Some(v) = ext {
                state.ext_value = v;
            }
        }
        state.has_header = true;
        buf.advance(pos);
        if starting && want == state.length as usize {
            // The whole message in one chunk: hand out the received bytes without copying them.
            let payload = buf.split_to(want).freeze();
            return Ok((true, Some(state.message(csid, payload))));
        }
        // One allocation per message in the common case, but never more than a small cap ahead of
        // the data that arrived: a peer's announced length alone cannot make us allocate.
        if starting && want < state.length as usize {
            state
                .partial
                .reserve((state.length as usize).min(RESERVE_CAP));
        }
        state.partial.extend_from_slice(&buf[..want]);
        self.buffered += want;
        buf.advance(want);
        if state.partial.len() as u32 >= state.length {
            let payload = std::mem::take(&mut state.partial).freeze();
            self.buffered -= payload.len();
            return Ok((true, Some(state.message(csid, payload))));
        }
        Ok((true, None))
    }
}

/// Splits outgoing messages into chunks (format 0, then format 3 continuations).
pub struct ChunkWriter {
    chunk_size: usize,
}

impl ChunkWriter {
    pub fn new(chunk_size: usize) -> ChunkWriter {
        ChunkWriter {
            chunk_size: chunk_size.max(1),
        }
    }

    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
    }

    pub fn write(
        &self,
        out: &mut Vec<u8>,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) {
        let basic = |out: &mut Vec<u8>, fmt: u8| {
            // Our own chunk stream ids are all below 64.
            out.push(fmt << 6 | (csid as u8 & 0x3F));
        };
        basic(out, 0);
        let ts = timestamp.min(0xFF_FFFF);
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&stream_id.to_le_bytes());
        if timestamp >= 0xFF_FFFF {
            out.extend_from_slice(&timestamp.to_be_bytes());
        }
        for (i, chunk) in payload.chunks(self.chunk_size).enumerate() {
            if i > 0 {
                basic(out, 3);
                if timestamp >= 0xFF_FFFF {
                    out.extend_from_slice(&timestamp.to_be_bytes());
                }
            }
            out.extend_from_slice(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkLimits = ChunkLimits {
        max_chunk_size: 65536,
        max_message_size: 1 << 20,
        max_chunk_streams: 8,
    };

    fn read_all(r: &mut ChunkReader, bytes: &[u8]) -> Result<Vec<Message>, ChunkError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            let (progress, msg) = r.read(&mut buf)?;
            out.extend(msg);
            if !progress {
                return Ok(out);
            }
        }
    }

    #[test]
    fn writer_output_reads_back_in_any_split() {
        let w = ChunkWriter::new(100);
        let mut out = Vec::new();
        let payload: Vec<u8> = (0..350u32).map(|i| i as u8).collect();
        w.write(&mut out, 4, 1000, 9, 1, &payload);
        w.write(&mut out, 4, 0x0100_0000, 8, 1, &payload[..10]);
        // Feed one byte at a time: partial input must never lose or invent data.
        let mut r = ChunkReader::new(LIMITS);
        r.set_chunk_size(100).expect("size");
        let mut buf = BytesMut::new();
        let mut msgs = Vec::new();
        for b in out {
            buf.extend_from_slice(&[b]);
            loop {
                let (progress, m) = r.read(&mut buf).expect("read");
                msgs.extend(m);
                if !progress {
                    break;
                }
            }
        }
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].payload.as_ref(), &payload[..]);
        assert_eq!(
            (msgs[0].timestamp, msgs[0].type_id, msgs[0].stream_id),
            (1000, 9, 1)
        );
        assert_eq!(msgs[1].timestamp, 0x0100_0000, "extended timestamp");
    }

    #[test]
    fn header_formats_and_deltas() {
        let mut bytes = vec![0x03, 0, 0, 10, 0, 0, 2, 0x14, 0, 0, 0, 0, b'a', b'b'];
        // Type 1: delta 5, length 1, type 0x14.
        bytes.extend_from_slice(&[0x43, 0, 0, 5, 0, 0, 1, 0x14, b'c']);
        // Type 2: delta 7.
        bytes.extend_from_slice(&[0x83, 0, 0, 7, b'd']);
        // Type 3: new message, repeats delta 7.
        bytes.extend_from_slice(&[0xC3, b'e']);
        let msgs = read_all(&mut ChunkReader::new(LIMITS), &bytes).expect("read");
        let ts: Vec<u32> = msgs.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![10, 15, 22, 29]);
    }

    #[test]
    fn type3_extended_timestamp_is_detected_both_ways() {
        for repeats in [true, false] {
            let mut bytes = vec![
                0x04, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0, 0x01, 0, 0, 0,
            ];
            bytes.extend(std::iter::repeat_n(1u8, 128));
            bytes.push(0xC4);
            if repeats {
                bytes.extend_from_slice(&[0x01, 0, 0, 0]);
            }
            bytes.extend(std::iter::repeat_n(2u8, 72));
            let msgs = read_all(&mut ChunkReader::new(LIMITS), &bytes).expect("read");
            assert_eq!(msgs.len(), 1, "repeats={repeats}");
            assert_eq!(msgs[0].payload.len(), 200);
            assert_eq!(
                msgs[0].payload[199], 2,
                "no timestamp bytes leaked into the payload"
            );
            assert_eq!(msgs[0].timestamp, 0x0100_0000);
        }
    }

    #[test]
    fn bounds_are_errors() {
        let mut r = ChunkReader::new(LIMITS);
        assert!(r.set_chunk_size(0).is_err());
        assert!(r.set_chunk_size(0x7FFF_FFFF).is_err());
        // Type-3 chunk with no previous header.
        assert_eq!(
            read_all(&mut ChunkReader::new(LIMITS), &[0xC5, 1]),
            Err(ChunkError::NoPreviousHeader(5))
        );
        // 16 MiB message.
        let big = [0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 0, 0, 0, 0];
        assert!(matches!(
            read_all(&mut ChunkReader::new(LIMITS), &big),
            Err(ChunkError::MessageTooLarge(_))
        ));
        // Too many chunk streams.
        let mut many = Vec::new();
        for c in 3..20u8 {
            many.extend_from_slice(&[c, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0]);
        }
        assert!(matches!(
            read_all(&mut ChunkReader::new(LIMITS), &many),
            Err(ChunkError::TooManyChunkStreams(8))
        ));
    }

    #[test]
    fn partial_messages_share_one_budget_per_connection() {
        let limits = ChunkLimits {
            max_chunk_size: 1 << 20,
            max_message_size: 1000,
            max_chunk_streams: 8,
        };
        let mut r = ChunkReader::new(limits);
        r.set_chunk_size(600).expect("size");
        // Two chunk streams each start a 1000-byte message with 600 bytes: 1200 buffered > 1000.
        let mut bytes = Vec::new();
        for csid in [4u8, 5] {
            bytes.extend_from_slice(&[csid, 0, 0, 0, 0, 0x03, 0xE8, 9, 0, 0, 0, 0]);
            bytes.extend(std::iter::repeat_n(0u8, 600));
        }
        assert_eq!(read_all(&mut r, &bytes), Err(ChunkError::BufferLimit(1000)));
    }
}
