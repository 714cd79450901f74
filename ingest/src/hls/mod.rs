//! HLS packaging without transcoding: the MPEG-TS muxer (`ts`), the segmenter and live playlist
//! (`segmenter`), the sink that turns a publish session's frames into segments on disk, and the
//! directory writer under it (`files`).

pub mod files;
pub mod segmenter;
pub mod sink;
pub mod ts;
