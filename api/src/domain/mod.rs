//! Plain types and rules of the control plane that know neither HTTP nor SQL: credential formats
//! and hashing, password hashing, validation of user input, stream limits, member roles.

pub mod allowlist;
pub mod credentials;
pub mod crypto;
pub mod limits;
pub mod password;
pub mod publish_token;
pub mod role;
pub mod validate;
pub mod webhook;
