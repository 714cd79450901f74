//! Benchmark support for Inlet: latency statistics, Prometheus histogram arithmetic and CPU accounting
//! from `/proc`. The load generators themselves live in `src/bin/`; this library holds the parts that
//! are worth unit tests. Nothing here touches the services' code: they are measured from outside
//! (HTTP, `/metrics`, `/proc`).

pub mod cpu;
pub mod prom;
pub mod stats;
