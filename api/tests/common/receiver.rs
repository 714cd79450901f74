//! The webhook receiver of the shared test support.

#[allow(unused_imports)]
pub use inlet_testsupport::receiver::*;
