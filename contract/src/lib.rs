//! The ingest ↔ API contract (docs/api.md, "Internal API"): settings both services share, and the
//! JSON types that cross between them. Both `inlet-api` and `inlet-ingest` depend on this crate;
//! nothing else lives here.

pub mod events;
pub mod limits;
pub mod process;
pub mod publish;
pub mod session;
pub mod settings;

/// Version prefix of the internal API the ingest calls.
pub const INTERNAL_API_PREFIX: &str = "/internal/v1";
/// Header carrying the node id on internal calls (the secret goes in `Authorization: Bearer`).
pub const NODE_ID_HEADER: &str = "x-inlet-node";
