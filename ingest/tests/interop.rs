//! Interoperability with real encoders (docs/troubleshooting.md): ffmpeg over RTMP and RTMPS,
//! GStreamer's own RTMP (`rtmp2sink`) and librtmp (`rtmpsink`, what OBS derives from) publish and
//! their frames are counted; publish tokens in the publish name and in the server URL; every
//! refusal reaches ffmpeg's stderr as `Server error: <the API's description>`, opens no session and
//! is recorded as an attempt; and an RTMP/RTMPS port mix-up or a closed port fails the way the
//! troubleshooting guide says.
//!
//! Each test prints the lines the encoder printed (run with `--nocapture` to see them).

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Stack, ffmpeg_publish, have};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Command;

/// Seconds of media each publish sends.
const SECONDS: u32 = 3;

/// Encoders are CPU-heavy on a small machine: at most one test publishes at a time, so that the
/// frame counts (which `-re` paces in real time) do not depend on what the other tests are doing.
static ENCODER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Prints what the encoder said, for the test log and the troubleshooting guide.
fn show(what: &str, text: &str, started: Instant) {
    eprintln!(
        "---- {what} ({:.1} s) ----\n{}\n----",
        started.elapsed().as_secs_f64(),
        text.trim_end()
    );
}

/// The lines of ffmpeg's stderr that are about the connection (not its stream listing).
fn connection_lines(err: &str) -> String {
    err.split(['\n', '\r'])
        .filter(|l| !l.starts_with("frame=") && !l.starts_with("Output #"))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "error",
                "rtmp",
                "tls",
                "tcp",
                "connection",
                "handshake",
                "failed",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The stream owner's side: REST calls with the tenant's API token.
struct Owner<'a> {
    stack: &'a Stack,
    token: String,
    stream: String,
    key: String,
}

impl<'a> Owner<'a> {
    async fn new(stack: &'a Stack) -> Owner<'a> {
        let (token, stream, key) = stack.stream().await;
        Owner {
            stack,
            token,
            stream,
            key,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .stack
            .http
            .request(method, format!("{}{path}", self.stack.api))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("API call");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn patch(&self, body: Value) {
        let (status, v) = self
            .call(
                Method::PATCH,
                &format!("/v1/streams/{}", self.stream),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "PATCH stream: {v}");
    }

    async fn mint_token(&self) -> String {
        let (status, v) = self
            .call(
                Method::POST,
                &format!("/v1/streams/{}/publish-tokens", self.stream),
                Some(json!({"ttl_seconds": 600})),
            )
            .await;
        assert_eq!(status, 201, "mint: {v}");
        v["token"].as_str().expect("token").to_string()
    }

    /// Reason codes of the stream's publish attempts, newest first (`ok` for accepted ones).
    async fn attempt_codes(&self) -> Vec<String> {
        let (status, v) = self
            .call(
                Method::GET,
                &format!("/v1/streams/{}/attempts?limit=100", self.stream),
                None,
            )
            .await;
        assert_eq!(status, 200, "attempts: {v}");
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|a| a["reason_code"].as_str().unwrap_or("ok").to_string())
            .collect()
    }
}

/// Waits until `sessions` sessions were opened and ended, and asserts that each one got `SECONDS`
/// of 30 fps video (give or take 20 %), audio, both sequence headers and a keyframe.
async fn assert_sessions(stack: &Stack, sessions: usize) {
    // The session ends when the connection closes, just after the encoder exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = stack.sinks.snapshot();
        if all.len() >= sessions && all.iter().all(|s| s.ended.is_some()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sessions never ended: {:?}",
            all.iter().map(|s| s.ended.clone()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = stack.sinks.snapshot();
    assert_eq!(all.len(), sessions, "sessions opened");
    let min_video = u64::from(25 * SECONDS * 8 / 10);
    for s in &all {
        assert!(
            s.video_frames >= min_video,
            "video frames: {} < {min_video}: {s:?}",
            s.video_frames
        );
        assert!(s.audio_frames > 0, "audio frames: {s:?}");
        assert!(s.config_records >= 2, "AVC and AAC sequence headers: {s:?}");
        assert!(s.keyframes >= 1, "keyframes: {s:?}");
        assert_eq!(s.ended.as_deref(), Some("publisher_left"), "{s:?}");
    }
}

async fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.kill_on_drop(true);
    tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {limit:?}"))
        .expect("the program runs")
}

/// A GStreamer publish: 3 s of 320x240 30 fps H.264 and AAC through `flvmux` into `sink`.
async fn gst_publish(sink: &[&str]) -> Output {
    let frames = (SECONDS * 30).to_string();
    // audiotestsrc: 1024 samples per buffer at 44.1 kHz.
    let audio_buffers = (SECONDS * 44_100).div_ceil(1024).to_string();
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.args(["-q", "videotestsrc", "is-live=true"])
        .arg(format!("num-buffers={frames}"))
        .args([
            "!",
            "video/x-raw,width=320,height=240,framerate=30/1",
            "!",
            "x264enc",
            "key-int-max=60",
            "speed-preset=ultrafast",
            "tune=zerolatency",
            "!",
            "h264parse",
            "!",
            "flvmux",
            "name=m",
            "streamable=true",
            "!",
        ])
        .args(sink)
        .args(["audiotestsrc", "is-live=true"])
        .arg(format!("num-buffers={audio_buffers}"))
        .args(["!", "avenc_aac", "!", "aacparse", "!", "m."]);
    run(&mut cmd, Duration::from_secs(u64::from(SECONDS) + 40)).await
}

async fn ffmpeg_accepted(stack: &Stack, url: &str, sessions: usize) {
    let started = Instant::now();
    let out = ffmpeg_publish(url, SECONDS).await;
    let err = stderr(&out);
    show(
        &format!("ffmpeg -f flv {url}"),
        &connection_lines(&err),
        started,
    );
    assert!(
        out.status.success(),
        "ffmpeg failed ({}):\n{err}",
        out.status
    );
    assert_sessions(stack, sessions).await;
}

#[tokio::test]
async fn ffmpeg_rtmp_publish_is_accepted() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let _turn = ENCODER.lock().await;
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    ffmpeg_accepted(&stack, &stack.rtmp_url("live", &owner.key), 1).await;
    assert_eq!(owner.attempt_codes().await, vec!["ok"]);
}

#[tokio::test]
async fn ffmpeg_rtmps_publish_is_accepted() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let _turn = ENCODER.lock().await;
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    // ffmpeg_publish adds `-tls_verify 0` for rtmps:// (the test ingest's certificate is self-signed).
    ffmpeg_accepted(&stack, &stack.rtmps_url("live", &owner.key), 1).await;
    let (_, v) = owner
        .call(
            Method::GET,
            &format!("/v1/streams/{}/attempts", owner.stream),
            None,
        )
        .await;
    assert_eq!(v["data"][0]["tls"], true, "{v}");
}

async fn gst_accepted(stack: &Stack, sink: &[&str]) {
    assert!(
        have("gst-launch-1.0"),
        "GStreamer is required (installed by .ci/run)"
    );
    let started = Instant::now();
    let out = gst_publish(sink).await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    show(
        &format!("gst-launch-1.0 … {}", sink.join(" ")),
        &text,
        started,
    );
    assert!(
        out.status.success(),
        "gst-launch failed ({}):\n{text}",
        out.status
    );
    assert_sessions(stack, 1).await;
}

#[tokio::test]
async fn gstreamer_rtmp2sink_publish_is_accepted() {
    let _turn = ENCODER.lock().await;
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    let location = format!("location={}", stack.rtmp_url("live", &owner.key));
    gst_accepted(&stack, &["rtmp2sink", &location]).await;
}

#[tokio::test]
async fn gstreamer_librtmp_rtmpsink_publish_is_accepted() {
    let _turn = ENCODER.lock().await;
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    // One argument: gst-launch escapes its space, so librtmp gets "URL live=1" (its option syntax).
    let location = format!("location={} live=1", stack.rtmp_url("live", &owner.key));
    gst_accepted(&stack, &["rtmpsink", &location]).await;
}

#[tokio::test]
async fn ffmpeg_publish_token_in_publish_name_and_in_server_url() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let _turn = ENCODER.lock().await;
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    owner.patch(json!({"auth_mode": "key+token"})).await;
    let token = owner.mint_token().await;

    // Publish name `KEY?token=JWT`: ffmpeg takes everything after the app as the publish name.
    let url = stack.rtmp_url("live", &format!("{}?token={token}", owner.key));
    ffmpeg_accepted(&stack, &url, 1).await;

    // Server URL `…/live?token=JWT` and the key as the publish name: ffmpeg sends the app as
    // `live?token=JWT` (and the query in tcUrl); the server splits the query off.
    let url = format!("rtmp://{}/live?token={token}/{}", stack.rtmp, owner.key);
    ffmpeg_accepted(&stack, &url, 2).await;

    // auth_mode token: the token alone as the publish name.
    owner.patch(json!({"auth_mode": "token"})).await;
    ffmpeg_accepted(&stack, &stack.rtmp_url("live", &token), 3).await;

    assert_eq!(owner.attempt_codes().await, vec!["ok", "ok", "ok"]);
}

/// Publishes with ffmpeg, expects a refusal whose stderr contains every one of `expect`, and no
/// session. Returns ffmpeg's stderr.
async fn ffmpeg_refused(stack: &Stack, what: &str, url: &str, expect: &[&str]) -> String {
    let started = Instant::now();
    let out = ffmpeg_publish(url, 2).await;
    let err = stderr(&out);
    show(
        &format!("{what}: ffmpeg -f flv {url}"),
        &connection_lines(&err),
        started,
    );
    assert!(!out.status.success(), "ffmpeg succeeded:\n{err}");
    for e in expect {
        assert!(err.contains(e), "{what}: stderr lacks {e:?}:\n{err}");
    }
    assert!(
        stack.sinks.snapshot().is_empty(),
        "{what}: a refused publish opened a session"
    );
    err
}

const INVALID_KEY: &str = "Server error: The stream key is not valid. Copy the stream key from the dashboard into your encoder's Stream Key field.";

#[tokio::test]
async fn ffmpeg_sees_invalid_key_and_unknown_app_and_attempts_are_recorded() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    let wrong = format!("{}AAAA", &owner.key[..owner.key.len() - 4]);
    assert_ne!(wrong, owner.key);
    ffmpeg_refused(
        &stack,
        "invalid_key",
        &stack.rtmp_url("live", &wrong),
        &[INVALID_KEY],
    )
    .await;
    ffmpeg_refused(
        &stack,
        "unknown_app",
        &stack.rtmp_url("livee", &owner.key),
        &["Server error: Your encoder connected to /livee; the server path is /live. In OBS, the Server field must end in /live."],
    )
    .await;
    // The key typed into the Server field (`rtmp://host/KEY`): ffmpeg takes the key for the app and
    // publishes an empty name; the refusal says where the key belongs, without echoing it.
    let err = ffmpeg_refused(
        &stack,
        "key in the Server field",
        &format!("rtmp://{}/{}", stack.rtmp, owner.key),
        &["Server error: Your encoder's Server field ends with the stream key. Set Server to the URL ending in /live and put the key in the Stream Key field."],
    )
    .await;
    let secret = owner.key.rsplit('_').next().expect("secret");
    assert!(
        !err.lines()
            .any(|l| l.contains("Server error") && l.contains(secret)),
        "{err}"
    );
    let codes = owner.attempt_codes().await;
    assert!(
        codes.starts_with(&[
            "unknown_app".to_string(),
            "unknown_app".to_string(),
            "invalid_key".to_string()
        ]),
        "recorded on the stream: {codes:?}"
    );
}

#[tokio::test]
async fn ffmpeg_sees_rotated_revoked_and_disabled() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;

    // Rotation without grace: the old key stops at once.
    let (status, v) = owner
        .call(
            Method::POST,
            &format!("/v1/streams/{}/keys", owner.stream),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, 201, "rotate: {v}");
    let new = v["stream_key"].as_str().expect("key").to_string();
    ffmpeg_refused(
        &stack,
        "key_expired",
        &stack.rtmp_url("live", &owner.key),
        &[
            "Server error: This stream key was rotated on ",
            "; copy the current key from the dashboard.",
        ],
    )
    .await;

    // Revocation.
    let key_id = new.split('_').nth(1).expect("key id");
    let (status, v) = owner
        .call(
            Method::DELETE,
            &format!("/v1/streams/{}/keys/{key_id}", owner.stream),
            None,
        )
        .await;
    assert_eq!(status, 204, "revoke: {v}");
    ffmpeg_refused(
        &stack,
        "key_revoked",
        &stack.rtmp_url("live", &new),
        &[
            "Server error: This stream key was revoked on ",
            "; copy the current key from the dashboard.",
        ],
    )
    .await;

    // Disabled stream, with a working key.
    let (status, v) = owner
        .call(
            Method::POST,
            &format!("/v1/streams/{}/keys", owner.stream),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "rotate: {v}");
    let fresh = v["stream_key"].as_str().expect("key").to_string();
    let (status, v) = owner
        .call(
            Method::POST,
            &format!("/v1/streams/{}/disable", owner.stream),
            None,
        )
        .await;
    assert!((200..300).contains(&status), "disable: {status} {v}");
    ffmpeg_refused(
        &stack,
        "stream_disabled",
        &stack.rtmp_url("live", &fresh),
        &[
            "Server error: This stream is disabled. Enable it in the dashboard or with POST /v1/streams/",
            "/enable.",
        ],
    )
    .await;

    assert_eq!(
        owner.attempt_codes().await,
        vec!["stream_disabled", "key_revoked", "key_expired"]
    );
}

#[tokio::test]
async fn ffmpeg_sees_ip_not_allowed_and_token_required() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    owner
        .patch(json!({"ip_allowlist": ["203.0.113.0/24"]}))
        .await;
    ffmpeg_refused(
        &stack,
        "ip_not_allowed",
        &stack.rtmp_url("live", &owner.key),
        &["Server error: Publishing from 127.0.0.1 is not allowed by this stream's IP allowlist."],
    )
    .await;

    owner
        .patch(json!({"ip_allowlist": [], "auth_mode": "token"}))
        .await;
    ffmpeg_refused(
        &stack,
        "token_invalid",
        &stack.rtmp_url("live", &owner.key),
        &["Server error: This stream requires a publish token: add ?token=<token> to the stream key or the server URL."],
    )
    .await;

    assert_eq!(
        owner.attempt_codes().await,
        vec!["token_invalid", "ip_not_allowed"]
    );
}

#[tokio::test]
async fn ffmpeg_play_is_refused_with_the_hls_hint() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;
    let url = stack.rtmp_url("live", &owner.key);
    let started = Instant::now();
    let out = run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-i", &url])
            .args(["-t", "1", "-f", "null", "-"]),
        Duration::from_secs(30),
    )
    .await;
    let err = stderr(&out);
    show(&format!("ffmpeg -i {url}"), &err, started);
    assert!(!out.status.success(), "ffmpeg succeeded:\n{err}");
    assert!(
        err.contains("Server error: This is an ingest endpoint; playback is HLS ("),
        "{err}"
    );
    assert!(
        err.contains("ingest endpoint") && err.contains("HLS"),
        "{err}"
    );
    assert!(stack.sinks.snapshot().is_empty());
}

#[tokio::test]
async fn ffmpeg_sees_control_plane_unavailable_when_the_api_is_down() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    // Nothing listens on port 9 (discard): the authorize call fails and the ingest fails closed.
    let stack = Stack::start_with(|c| c.api_url = "http://127.0.0.1:9".into()).await;
    let owner = Owner::new(&stack).await;
    ffmpeg_refused(
        &stack,
        "control_plane_unavailable",
        &stack.rtmp_url("live", &owner.key),
        &["Server error: The ingest cannot reach the control plane right now; retry in a few seconds."],
    )
    .await;
    assert!(
        owner.attempt_codes().await.is_empty(),
        "the API never heard of it"
    );
}

#[tokio::test]
async fn ffmpeg_fails_on_rtmp_rtmps_port_mix_ups() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    let stack = Stack::start().await;
    let owner = Owner::new(&stack).await;

    // rtmp:// to the RTMPS port.
    let url = format!("rtmp://{}/live/{}", stack.rtmps, owner.key);
    ffmpeg_refused(&stack, "rtmp:// to the RTMPS port", &url, &[]).await;

    // rtmps:// to the plain RTMP port.
    let url = format!("rtmps://{}/live/{}", stack.rtmp, owner.key);
    ffmpeg_refused(&stack, "rtmps:// to the RTMP port", &url, &[]).await;

    assert!(
        owner.attempt_codes().await.is_empty(),
        "nothing got as far as publish"
    );
}

#[tokio::test]
async fn ffmpeg_to_a_closed_port_reports_connection_refused() {
    assert!(have("ffmpeg"), "ffmpeg is required (installed by .ci/run)");
    // A port that was free a moment ago and that nothing listens on now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("rtmp://127.0.0.1:{port}/live/sk_0123456789_0123");
    let started = Instant::now();
    let out = ffmpeg_publish(&url, 1).await;
    let err = stderr(&out);
    show(
        &format!("ffmpeg -f flv {url}"),
        &connection_lines(&err),
        started,
    );
    assert!(!out.status.success());
    assert!(err.contains("Connection refused"), "{err}");
}
