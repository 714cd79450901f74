//! Session tests over byte vectors: a scripted client talks to the session, and the server's output is
//! read back through the chunk reader.

use super::*;
use crate::rtmp::chunk::ChunkWriter;

const LIMITS: ChunkLimits = ChunkLimits {
    max_chunk_size: 1 << 20,
    max_message_size: 8 << 20,
    max_chunk_streams: 64,
};

struct Client {
    w: ChunkWriter,
    session: Session,
    reader: ChunkReader,
    inbox: BytesMut,
    skipped_handshake: bool,
}

impl Client {
    fn new() -> Client {
        let mut session = Session::new(SessionLimits::default());
        let mut hello = vec![3u8];
        hello.extend(std::iter::repeat_n(0u8, PACKET_LEN));
        session.feed(&hello).expect("c0c1");
        session.feed(&[0u8; PACKET_LEN]).expect("c2");
        assert_eq!(session.poll_event(), Some(Event::HandshakeDone));
        Client {
            w: ChunkWriter::new(128),
            session,
            reader: ChunkReader::new(LIMITS),
            inbox: BytesMut::new(),
            skipped_handshake: false,
        }
    }

    fn send(&mut self, type_id: u8, stream_id: u32, payload: &[u8]) -> Result<(), ProtocolError> {
        let mut out = Vec::new();
        self.w.write(&mut out, 3, 0, type_id, stream_id, payload);
        self.session.feed(&out)
    }

    fn command(&mut self, stream_id: u32, values: &[Value]) -> Result<(), ProtocolError> {
        let mut body = Vec::new();
        for v in values {
            amf0::encode(&mut body, v);
        }
        self.send(20, stream_id, &body)
    }

    fn connect(&mut self, app: &str) {
        self.command(
            0,
            &[
                amf0::string("connect"),
                Value::Number(1.0),
                amf0::object(&[("app", amf0::string(app))]),
            ],
        )
        .expect("connect");
    }

    /// Messages the server sent since the last call.
    fn received(&mut self) -> Vec<Message> {
        self.inbox.extend_from_slice(&self.session.take_output());
        if !self.skipped_handshake {
            self.inbox.advance(1 + 2 * PACKET_LEN);
            self.skipped_handshake = true;
        }
        let mut out = Vec::new();
        loop {
            let (progress, m) = self
                .reader
                .read(&mut self.inbox)
                .expect("server output is valid");
            if let Some(m) = m {
                if m.type_id == 1 {
                    let size = u32::from_be_bytes([
                        m.payload[0],
                        m.payload[1],
                        m.payload[2],
                        m.payload[3],
                    ]);
                    self.reader.set_chunk_size(size).expect("size");
                }
                out.push(m);
            }
            if !progress {
                return out;
            }
        }
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }
}

fn commands(msgs: &[Message]) -> Vec<Vec<Value>> {
    msgs.iter()
        .filter(|m| m.type_id == 20)
        .map(|m| Decoder::new(&m.payload).all().expect("amf"))
        .collect()
}

#[test]
fn publish_flow_as_ffmpeg_does_it() {
    let mut c = Client::new();
    c.connect("live?token=abc");
    let msgs = c.received();
    // Protocol control on chunk stream 2, before the _result.
    let control: Vec<(u32, u8)> = msgs
        .iter()
        .filter(|m| m.type_id != 20)
        .map(|m| (m.csid, m.type_id))
        .collect();
    assert_eq!(control, vec![(2, 5), (2, 6), (2, 1)]);
    let cmds = commands(&msgs);
    assert_eq!(cmds[0][0], amf0::string("_result"));
    assert_eq!(
        cmds[0][3].get("code"),
        Some(&amf0::string("NetConnection.Connect.Success"))
    );
    assert!(!cmds.iter().any(|c| c[0] == amf0::string("onBWDone")));
    assert_eq!(
        c.events(),
        vec![Event::Connect {
            app: "live".into(),
            tc_url: None,
            query: Some("token=abc".into())
        }]
    );

    c.command(
        0,
        &[
            amf0::string("releaseStream"),
            Value::Number(2.0),
            Value::Null,
            amf0::string("sk_x"),
        ],
    )
    .expect("rs");
    c.command(
        0,
        &[
            amf0::string("FCPublish"),
            Value::Number(3.0),
            Value::Null,
            amf0::string("sk_x"),
        ],
    )
    .expect("fc");
    c.command(
        0,
        &[
            amf0::string("createStream"),
            Value::Number(4.0),
            Value::Null,
        ],
    )
    .expect("cs");
    let cmds = commands(&c.received());
    // releaseStream and FCPublish are answered (an immediate ACK for Nagle clients), then createStream.
    assert_eq!(
        cmds[0],
        vec![
            amf0::string("_result"),
            Value::Number(2.0),
            Value::Null,
            Value::Undefined
        ]
    );
    assert_eq!(
        cmds[1],
        vec![
            amf0::string("_result"),
            Value::Number(3.0),
            Value::Null,
            Value::Undefined
        ]
    );
    assert_eq!(
        cmds[2..],
        vec![vec![
            amf0::string("_result"),
            Value::Number(4.0),
            Value::Null,
            Value::Number(1.0)
        ]]
    );

    // Media before the publish is accepted is dropped.
    c.send(9, 1, &[0x17, 0, 0, 0, 0]).expect("early");
    c.command(
        1,
        &[
            amf0::string("publish"),
            Value::Number(5.0),
            Value::Null,
            amf0::string("sk_x"),
            amf0::string("live"),
        ],
    )
    .expect("publish");
    assert_eq!(
        c.events(),
        vec![Event::Publish {
            stream_id: 1,
            name: "sk_x".into()
        }]
    );
    assert_eq!(c.session.dropped_before_publish, 1);
    c.session.accept_publish("Publishing sk_x.");
    let cmds = commands(&c.received());
    assert_eq!(
        cmds[0][3].get("code"),
        Some(&amf0::string("NetStream.Publish.Start"))
    );

    let mut meta = Vec::new();
    for v in [
        amf0::string("@setDataFrame"),
        amf0::string("onMetaData"),
        amf0::object(&[("width", Value::Number(1280.0))]),
    ] {
        amf0::encode(&mut meta, &v);
    }
    c.send(18, 1, &meta).expect("meta");
    c.send(9, 1, &[0x17, 0, 0, 0, 0, 1, 2, 3])
        .expect("video config");
    c.send(8, 1, &[0xAF, 1, 9, 9]).expect("audio");
    let ev = c.events();
    assert_eq!(ev.len(), 3);
    let Event::Frame(m) = &ev[0] else {
        panic!("metadata frame")
    };
    assert_eq!(m.kind, FrameKind::Metadata);
    assert_eq!(
        Decoder::new(&m.data).value().expect("v"),
        amf0::string("onMetaData")
    );
    let Event::Frame(v) = &ev[1] else {
        panic!("video frame")
    };
    assert!(v.is_config && v.is_keyframe);

    c.command(
        1,
        &[
            amf0::string("FCUnpublish"),
            Value::Number(6.0),
            Value::Null,
            amf0::string("sk_x"),
        ],
    )
    .expect("unpub");
    assert_eq!(c.events(), vec![Event::Unpublish]);
}

#[test]
fn refusal_is_an_onstatus_error_with_the_description() {
    let mut c = Client::new();
    c.connect("live");
    c.command(
        0,
        &[
            amf0::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    )
    .expect("cs");
    c.command(
        1,
        &[
            amf0::string("publish"),
            Value::Number(3.0),
            Value::Null,
            amf0::string("bad"),
        ],
    )
    .expect("p");
    c.received();
    c.session
        .reject_publish("NetStream.Publish.BadName", "The stream key is not valid.");
    let cmds = commands(&c.received());
    let info = &cmds[0][3];
    assert_eq!(info.get("level"), Some(&amf0::string("error")));
    assert_eq!(
        info.get("code"),
        Some(&amf0::string("NetStream.Publish.BadName"))
    );
    assert_eq!(
        info.get("description"),
        Some(&amf0::string("The stream key is not valid."))
    );
}

#[test]
fn out_of_order_and_repeated_commands_are_errors() {
    let mut c = Client::new();
    let e = c.command(
        0,
        &[
            amf0::string("publish"),
            Value::Number(1.0),
            Value::Null,
            amf0::string("x"),
        ],
    );
    assert!(matches!(e, Err(ProtocolError::Command(m)) if m.contains("before connect")));

    let mut c = Client::new();
    c.connect("live");
    c.command(
        1,
        &[
            amf0::string("publish"),
            Value::Number(2.0),
            Value::Null,
            amf0::string("x"),
        ],
    )
    .expect("first");
    let e = c.command(
        1,
        &[
            amf0::string("publish"),
            Value::Number(3.0),
            Value::Null,
            amf0::string("x"),
        ],
    );
    assert!(matches!(e, Err(ProtocolError::Command(m)) if m.contains("twice")));

    let mut c = Client::new();
    c.connect("live");
    let mut result = Ok(());
    for i in 0..100 {
        result = c.command(
            0,
            &[
                amf0::string("createStream"),
                Value::Number(f64::from(i)),
                Value::Null,
            ],
        );
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(ProtocolError::Command(m)) if m.contains("createStream")));
}

#[test]
fn ping_is_answered_and_acks_follow_the_peer_window() {
    let mut c = Client::new();
    c.connect("live");
    c.received();
    c.send(4, 0, &[0, 6, 0, 0, 1, 2]).expect("ping");
    let msgs = c.received();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0].csid, msgs[0].type_id, msgs[0].payload.as_ref()),
        (2, 4, &[0u8, 7, 0, 0, 1, 2][..])
    );

    c.send(5, 0, &1000u32.to_be_bytes()).expect("window");
    c.send(8, 0, &[0u8; 1200]).expect("bytes");
    let acks: Vec<Message> = c
        .received()
        .into_iter()
        .filter(|m| m.type_id == 3)
        .collect();
    let last = acks.last().expect("an ack once the window is crossed");
    let seq = u32::from_be_bytes([
        last.payload[0],
        last.payload[1],
        last.payload[2],
        last.payload[3],
    ]);
    assert_eq!(
        seq, c.session.received,
        "the sequence number is every byte received"
    );
    c.send(8, 0, &[0u8; 100]).expect("few bytes");
    assert!(
        c.received().iter().all(|m| m.type_id != 3),
        "no ack before the next window"
    );
}

#[test]
fn play_is_an_event_and_wrong_versions_fail() {
    let mut c = Client::new();
    c.connect("live");
    c.command(
        1,
        &[
            amf0::string("play"),
            Value::Number(2.0),
            Value::Null,
            amf0::string("x"),
        ],
    )
    .expect("play");
    assert!(c.events().contains(&Event::Play {
        stream_id: 1,
        name: "x".into()
    }));

    let mut s = Session::new(SessionLimits::default());
    assert!(matches!(
        s.feed(b"GET / HTTP/1.1\r\n"),
        Err(ProtocolError::Handshake(_))
    ));
    let mut s = Session::new(SessionLimits::default());
    assert!(matches!(
        s.feed(&[0x16, 3, 1]),
        Err(ProtocolError::Handshake(_))
    ));
}

#[test]
fn aggregate_messages_are_split_with_relative_timestamps() {
    let mut c = Client::new();
    c.connect("live");
    c.command(
        1,
        &[
            amf0::string("publish"),
            Value::Number(2.0),
            Value::Null,
            amf0::string("x"),
        ],
    )
    .expect("p");
    c.session.accept_publish("ok");
    c.events();
    let mut agg = Vec::new();
    for (ts, body) in [
        (100u32, &[0x27u8, 1, 0, 0, 0][..]),
        (133, &[0x27, 1, 0, 0, 0, 5][..]),
    ] {
        agg.push(9);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push(0);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    let mut out = Vec::new();
    c.w.write(&mut out, 6, 5000, 22, 1, &agg);
    c.session.feed(&out).expect("aggregate");
    let ts: Vec<u32> = c
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.timestamp),
            _ => None,
        })
        .collect();
    assert_eq!(ts, vec![5000, 5033]);
}
