//! The HLS sink of a publish session: runs the segmenter and writes its output under
//! `<hls dir>/<playback id>/` atomically (through `files`: a file is complete before its name
//! points at it), so a reader never sees a torn playlist or segment. The first playlist write is
//! reported as ready.

use std::path::PathBuf;
use std::time::SystemTime;

use super::files::Files;
use super::segmenter::{HlsSettings, Output, Segmenter};
use crate::media::{MediaFrame, MediaSink};

pub const PLAYLIST: &str = "index.m3u8";
/// Names the session that owns the directory (the segment-name prefix), so a finished session's
/// disposal never removes a newer session's output.
pub const OWNER: &str = ".session";

/// Runs once when the first playlist is on disk.
pub type OnReady = Box<dyn FnOnce() + Send>;
/// Runs once when the session ends, with the reason.
pub type OnEnd = Box<dyn FnOnce(&str) + Send>;

pub struct HlsSink {
    segmenter: Segmenter,
    dir: PathBuf,
    files: Files,
    out: Vec<Output>,
    on_ready: Option<OnReady>,
    on_end: Option<OnEnd>,
    failed: bool,
    /// Counts segments written (the node's metric).
    segments: Option<prometheus_client::metrics::counter::Counter>,
}

pub use super::files::write_atomic;

impl HlsSink {
    /// A sink writing into `dir` (created; files of an earlier session are replaced as they are
    /// rewritten). `on_ready` runs once, after the first playlist is on disk; `on_end` with the reason.
    pub fn new(
        dir: PathBuf,
        settings: HlsSettings,
        prefix: &str,
        on_ready: OnReady,
        on_end: OnEnd,
    ) -> std::io::Result<HlsSink> {
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir, OWNER, prefix.as_bytes())?;
        // A previous session's playlist would show viewers stale segments until ours replaces it.
        let _ = std::fs::remove_file(dir.join(PLAYLIST));
        Ok(HlsSink {
            segmenter: Segmenter::new(settings, prefix),
            files: Files::new(dir.clone()),
            dir,
            out: Vec::new(),
            on_ready: Some(on_ready),
            on_end: Some(on_end),
            failed: false,
            segments: None,
        })
    }

    /// Counts every segment written in `counter`.
    pub fn counting(mut self, counter: prometheus_client::metrics::counter::Counter) -> HlsSink {
        self.segments = Some(counter);
        self
    }

    fn apply(&mut self) {
        let mut out = std::mem::take(&mut self.out);
        for o in out.drain(..) {
            if self.failed {
                continue;
            }
            let result = match &o {
                Output::Segment { name, bytes } => self.files.segment(name, bytes),
                Output::Playlist(text) => self.files.playlist(PLAYLIST, text),
                Output::Remove(name) => self.files.retire(name),
            };
            match result {
                Ok(()) => {
                    if let (Output::Segment { .. }, Some(c)) = (&o, &self.segments) {
                        c.inc();
                    }
                    if matches!(o, Output::Playlist(_))
                        && let Some(ready) = self.on_ready.take()
                    {
                        ready();
                    }
                }
                Err(e) => {
                    // The disk is full or gone: stop writing for this session rather than log per frame.
                    tracing::error!(dir = %self.dir.display(), error = %e, "HLS write failed; packaging stopped for this session");
                    self.failed = true;
                }
            }
            if let Output::Segment { bytes, .. } = o {
                self.segmenter.recycle(bytes);
            }
        }
        self.out = out;
    }
}

impl MediaSink for HlsSink {
    fn frame(&mut self, frame: MediaFrame) {
        self.segmenter
            .push(&frame, SystemTime::now(), &mut self.out);
        if !self.out.is_empty() {
            self.apply();
        }
    }

    fn resume(&mut self) {
        self.segmenter.discontinuity(&mut self.out);
        self.apply();
    }

    fn end(&mut self, reason: &str) {
        self.segmenter.finish(&mut self.out);
        self.apply();
        self.files.clean();
        if let Some(end) = self.on_end.take() {
            end(reason);
        }
    }
}
