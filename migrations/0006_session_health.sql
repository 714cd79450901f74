-- Session health and the reconnect window (SPEC §3, §5, §9): what the ingest measured about each
-- session (aggregates on the session, the series in session_health), the limits it broke
-- (session_warnings), a publisher that dropped and may come back (disconnected_at), and disconnect
-- requests aimed at one node (a takeover that moved a session to another node).

ALTER TABLE publish_sessions
    ADD COLUMN first_frame_at        timestamptz,
    -- The publisher is gone and the session waits reconnect_window_seconds for it (NULL: connected).
    ADD COLUMN disconnected_at       timestamptz,
    ADD COLUMN disconnect_reason     text,
    -- When a publisher last continued the session (a reconnect or a takeover), NULL before the first.
    ADD COLUMN resumed_at            timestamptz,
    ADD COLUMN reconnects            integer NOT NULL DEFAULT 0,
    ADD COLUMN bytes                 bigint NOT NULL DEFAULT 0,
    ADD COLUMN peak_bitrate_kbps     integer,
    ADD COLUMN last_bitrate_kbps     integer,
    -- Sum and count of the health reports' bitrates, for the average.
    ADD COLUMN bitrate_sum           bigint NOT NULL DEFAULT 0,
    ADD COLUMN health_count          integer NOT NULL DEFAULT 0,
    ADD COLUMN health_at             timestamptz,
    ADD COLUMN fps                   double precision,
    ADD COLUMN width                 integer,
    ADD COLUMN height                integer,
    ADD COLUMN video_codec           text,
    ADD COLUMN audio_codec           text,
    ADD COLUMN keyframe_interval_ms  integer,
    ADD COLUMN skew_ms               bigint;

CREATE INDEX publish_sessions_tenant_started_idx ON publish_sessions (tenant_id, started_at);
CREATE INDEX publish_sessions_tenant_ended_idx ON publish_sessions (tenant_id, ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX publish_sessions_disconnected_idx ON publish_sessions (disconnected_at)
    WHERE ended_at IS NULL AND disconnected_at IS NOT NULL;

-- Whether an accepted attempt continued a session (a reconnect within the window, or a takeover).
ALTER TABLE publish_attempts ADD COLUMN resumed boolean NOT NULL DEFAULT false;
CREATE INDEX publish_attempts_tenant_at_idx ON publish_attempts (tenant_id, at);

-- The health series. Retention: 7 days, and the newest 1000 reports of a session.
CREATE TABLE session_health (
    id                    bigserial PRIMARY KEY,
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id             uuid NOT NULL,
    session_id            uuid NOT NULL REFERENCES publish_sessions (id) ON DELETE CASCADE,
    at                    timestamptz NOT NULL,
    bitrate_kbps          integer NOT NULL,
    fps                   double precision NOT NULL,
    keyframe_interval_ms  integer,
    width                 integer,
    height                integer,
    video_codec           text,
    audio_codec           text,
    bytes                 bigint NOT NULL,
    skew_ms               bigint NOT NULL,
    -- A retried report is the same report.
    CONSTRAINT session_health_once UNIQUE (session_id, at)
);
CREATE INDEX session_health_at_idx ON session_health (at);

-- Limits a session broke (on_violation reject or flag), as the ingest reported them.
CREATE TABLE session_warnings (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id     uuid NOT NULL,
    session_id    uuid NOT NULL REFERENCES publish_sessions (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,
    limit_name    text NOT NULL,
    configured    text NOT NULL,
    measured      text NOT NULL,
    description   text NOT NULL,
    action        text NOT NULL CHECK (action IN ('rejected', 'flagged')),
    CONSTRAINT session_warnings_once UNIQUE (session_id, limit_name, action, at)
);
CREATE INDEX session_warnings_tenant_at_idx ON session_warnings (tenant_id, at);

-- A disconnect request may be meant for one node only (the old node of a session that moved).
ALTER TABLE disconnect_requests ADD COLUMN node_id text;
