//! Benchmark support for Inlet: latency statistics, Prometheus histogram arithmetic and CPU
//! accounting from `/proc`, a private PostgreSQL, the servers under test run as child processes;
//! for the RTMP ingest benchmark, FLV sources and a cheap RTMP publisher; for the webhook
//! benchmark, a receiver. The benchmarks themselves live in `src/bin/`. Nothing here touches the
//! services' code: they are measured from outside (RTMP, HTTP, `/metrics`, `/proc`, and SQL where
//! the API's own path is SQL).

pub mod api;
pub mod cpu;
pub mod flv;
pub mod pg;
pub mod prom;
pub mod publisher;
pub mod receiver;
pub mod servers;
pub mod stats;
