//! The webhook receiver of the shared test support.

pub use inlet_testsupport::receiver::*;
