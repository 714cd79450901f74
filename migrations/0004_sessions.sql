-- Publish sessions as the ingest reports them (SPEC §5): connected, HLS ready, ended with a reason.
-- A stream points at its active session while a publisher is live.
CREATE TABLE publish_sessions (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id     uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    node_id       text NOT NULL,
    started_at    timestamptz NOT NULL,
    hls_ready_at  timestamptz,
    hls_url       text,
    ended_at      timestamptz,
    end_reason    text
);
CREATE INDEX publish_sessions_stream_idx ON publish_sessions (stream_id, started_at DESC);

ALTER TABLE streams ADD COLUMN active_session_id uuid;
