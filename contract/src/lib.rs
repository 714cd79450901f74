//! The ingest ↔ API contract (SPEC §5): settings both services share, and the JSON types that cross
//! between them. Both `inlet-api` and `inlet-ingest` depend on this crate; nothing else lives here.

pub mod process;
pub mod settings;

/// Version prefix of the internal API the ingest calls.
pub const INTERNAL_API_PREFIX: &str = "/internal/v1";
