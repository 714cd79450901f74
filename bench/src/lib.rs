//! Benchmark support for Inlet: latency statistics, Prometheus histogram arithmetic and CPU accounting
//! from `/proc`; for the RTMP ingest benchmark, FLV sources, a cheap RTMP publisher and the servers
//! under test run as child processes. The benchmarks themselves live in `src/bin/`. Nothing here
//! touches the services' code: they are measured from outside (RTMP, HTTP, `/metrics`, `/proc`).

pub mod api;
pub mod cpu;
pub mod flv;
pub mod prom;
pub mod publisher;
pub mod servers;
pub mod stats;
