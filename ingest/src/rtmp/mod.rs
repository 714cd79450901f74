//! The RTMP protocol core, sans-IO. Folders mirror the Adobe RTMP specification: the handshake (§5.2),
//! the chunk stream (§5.3), AMF0 (the command encoding), and the session that ties protocol control
//! (§5.4) and the NetConnection/NetStream commands (§7.2) together. Nothing here touches a socket, a
//! clock or a task.

pub mod amf0;
pub mod chunk;
pub mod handshake;
pub mod session;

pub use session::{Event, ProtocolError, Session, SessionLimits};
