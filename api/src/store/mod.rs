//! SQL of the control plane, one module per resource. Handlers call these functions and never hold
//! SQL themselves. Every tenant-owned query takes the tenant id and filters on it.

pub mod api_tokens;
pub mod audit;
pub mod cursor;
pub mod events;
pub mod idempotency;
pub mod instance;
pub mod keys;
pub mod members;
pub mod nodes;
pub mod publish;
pub mod publish_sessions;
pub mod sessions;
pub mod sessions_live;
pub mod signing_keys;
pub mod stats;
pub mod streams;
pub mod tenants;
pub mod webhooks;
