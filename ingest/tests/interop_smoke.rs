//! A first end-to-end check of the harness: ffmpeg publishes over RTMP to the in-process ingest with
//! a real API and database; the publish is accepted and frames reach the sink.

mod common;

use common::{Stack, ffmpeg_publish};

#[tokio::test]
async fn ffmpeg_rtmp_publish_is_accepted_and_frames_counted() {
    assert!(
        common::have("ffmpeg"),
        "ffmpeg is required (installed by .ci/run)"
    );
    let stack = Stack::start().await;
    let (_token, _stream, key) = stack.stream().await;
    let out = ffmpeg_publish(&stack.rtmp_url("live", &key), 3).await;
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sessions = stack.sinks.snapshot();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert!(s.video_frames >= 80, "video frames: {}", s.video_frames);
    assert!(s.audio_frames >= 100, "audio frames: {}", s.audio_frames);
    assert_eq!(s.metadata, 1);
    assert!(s.config_records >= 2, "AVC and AAC sequence headers");
    assert_eq!(s.ended.as_deref(), Some("publisher_left"));
}
