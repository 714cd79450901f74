-- Ingest nodes and their heartbeats (SPEC §5), and precise disconnect targets: a disconnect request
-- may name the one session to cut (a takeover), and sessions remember the key they were accepted on.
CREATE TABLE ingest_nodes (
    id            text PRIMARY KEY,
    version       text NOT NULL,
    last_seen_at  timestamptz NOT NULL
);

ALTER TABLE publish_sessions ADD COLUMN key_id text;
ALTER TABLE disconnect_requests ADD COLUMN session_id uuid;
CREATE INDEX publish_sessions_open_idx ON publish_sessions (node_id) WHERE ended_at IS NULL;
