//! The event types the control plane emits to customers (docs/webhooks.md): one enum, so that the
//! API's emitters, its validation of webhook filters and the docs name the same set.

use serde::{Deserialize, Serialize};

/// A customer-visible event type. Names may grow; they are never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "stream.created")]
    StreamCreated,
    #[serde(rename = "stream.updated")]
    StreamUpdated,
    #[serde(rename = "stream.deleted")]
    StreamDeleted,
    #[serde(rename = "stream.enabled")]
    StreamEnabled,
    #[serde(rename = "stream.disabled")]
    StreamDisabled,
    #[serde(rename = "stream.connected")]
    StreamConnected,
    #[serde(rename = "stream.active")]
    StreamActive,
    #[serde(rename = "stream.disconnected")]
    StreamDisconnected,
    #[serde(rename = "stream.idle")]
    StreamIdle,
    #[serde(rename = "stream.rejected")]
    StreamRejected,
    #[serde(rename = "stream.unhealthy")]
    StreamUnhealthy,
    #[serde(rename = "stream.healthy")]
    StreamHealthy,
    #[serde(rename = "stream.limits_violation")]
    StreamLimitsViolation,
    #[serde(rename = "stream.key_rotated")]
    StreamKeyRotated,
    #[serde(rename = "stream.key_revoked")]
    StreamKeyRevoked,
    #[serde(rename = "recording.ready")]
    RecordingReady,
    #[serde(rename = "recording.failed")]
    RecordingFailed,
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 19] = [
        EventType::StreamCreated,
        EventType::StreamUpdated,
        EventType::StreamDeleted,
        EventType::StreamEnabled,
        EventType::StreamDisabled,
        EventType::StreamConnected,
        EventType::StreamActive,
        EventType::StreamDisconnected,
        EventType::StreamIdle,
        EventType::StreamRejected,
        EventType::StreamUnhealthy,
        EventType::StreamHealthy,
        EventType::StreamLimitsViolation,
        EventType::StreamKeyRotated,
        EventType::StreamKeyRevoked,
        EventType::RecordingReady,
        EventType::RecordingFailed,
        EventType::WebhookDisabled,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StreamCreated => "stream.created",
            EventType::StreamUpdated => "stream.updated",
            EventType::StreamDeleted => "stream.deleted",
            EventType::StreamEnabled => "stream.enabled",
            EventType::StreamDisabled => "stream.disabled",
            EventType::StreamConnected => "stream.connected",
            EventType::StreamActive => "stream.active",
            EventType::StreamDisconnected => "stream.disconnected",
            EventType::StreamIdle => "stream.idle",
            EventType::StreamRejected => "stream.rejected",
            EventType::StreamUnhealthy => "stream.unhealthy",
            EventType::StreamHealthy => "stream.healthy",
            EventType::StreamLimitsViolation => "stream.limits_violation",
            EventType::StreamKeyRotated => "stream.key_rotated",
            EventType::StreamKeyRevoked => "stream.key_revoked",
            EventType::RecordingReady => "recording.ready",
            EventType::RecordingFailed => "recording.failed",
            EventType::WebhookDisabled => "webhook.disabled",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_text_and_json() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(EventType::parse("stream.nope"), None);
    }
}
