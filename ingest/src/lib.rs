//! Inlet's data plane (`inlet-ingest`): the RTMP protocol core (`rtmp`, sans-IO), media frames
//! (`media`), and the IO shell (`server`: listeners, TLS, authorization, HTTP endpoints). Data flows
//! one way: socket → session → media → sink, with reports to the API branching off.

pub mod config;
pub mod hls;
pub mod media;
pub mod policy;
pub mod rtmp;
pub mod server;

pub use config::IngestConfig;
