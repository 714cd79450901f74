//! HLS packaging without transcoding: the MPEG-TS muxer (`ts`), the segmenter and live playlist
//! (`segmenter`), and the sink that turns a publish session's frames into segments on disk.

pub mod segmenter;
pub mod sink;
pub mod ts;
