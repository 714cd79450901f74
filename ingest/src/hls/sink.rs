//! The HLS sink of a publish session: runs the segmenter and writes its output under
//! `<hls dir>/<playback id>/` atomically (write to a temporary name, then rename), so a reader never
//! sees a torn playlist or segment. The first playlist write is reported as ready.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    out: Vec<Output>,
    on_ready: Option<OnReady>,
    on_end: Option<OnEnd>,
    failed: bool,
    /// Counts segments written (the node's metric).
    segments: Option<prometheus_client::metrics::counter::Counter>,
}

/// Writes `bytes` to `dir/name` via a temporary file and a rename.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))
}

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
        for o in self.out.drain(..) {
            if self.failed {
                continue;
            }
            let result = match &o {
                Output::Segment { name, bytes } => write_atomic(&self.dir, name, bytes),
                Output::Playlist(text) => write_atomic(&self.dir, PLAYLIST, text.as_bytes()),
                Output::Remove(name) => match std::fs::remove_file(self.dir.join(name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
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
        }
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
        if let Some(end) = self.on_end.take() {
            end(reason);
        }
    }
}
