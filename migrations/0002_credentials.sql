-- Credentials and publish authorization (SPEC §3, §5): tenant allowlists, publish-token signing keys
-- (the API's own, encrypted at rest, and tenants' public keys), single-use token ids, publish attempts,
-- disconnect intents and the audit log.

ALTER TABLE tenants ADD COLUMN ip_allowlist text[] NOT NULL DEFAULT '{}';

-- The API's own Ed25519 keys for minting publish tokens. The private key is sealed with
-- INLET_SECRET_KEY; retired keys still verify tokens they signed.
CREATE TABLE api_signing_keys (
    kid              text PRIMARY KEY,
    private_sealed   bytea NOT NULL,
    public_key       bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz
);

-- Tenants' Ed25519 public keys for tokens minted offline; the private key is shown once, never stored.
CREATE TABLE tenant_signing_keys (
    kid          text PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    public_key   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX tenant_signing_keys_tenant_idx ON tenant_signing_keys (tenant_id, created_at DESC, kid DESC);

-- Single-use publish tokens that were spent; rows may be deleted once the token has expired.
CREATE TABLE used_publish_tokens (
    jti         text PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE publish_attempts (
    id           uuid PRIMARY KEY,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id    uuid REFERENCES streams (id) ON DELETE CASCADE,
    key_id       text,
    session_id   uuid,
    at           timestamptz NOT NULL DEFAULT now(),
    result       text NOT NULL CHECK (result IN ('accepted', 'refused')),
    reason_code  text,
    detail       text NOT NULL,
    client_ip    text NOT NULL,
    app          text NOT NULL,
    tls          boolean NOT NULL,
    node_id      text NOT NULL
);
CREATE INDEX publish_attempts_stream_idx ON publish_attempts (stream_id, at DESC, id DESC);

-- Intents to cut a live publisher (a rotated key with disconnect_active, a revoked key, a disabled or
-- deleted stream); the session-lifecycle heartbeat hands them to the ingest.
CREATE TABLE disconnect_requests (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id     uuid NOT NULL,
    key_id        text,
    reason        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz
);
CREATE INDEX disconnect_requests_pending_idx ON disconnect_requests (created_at) WHERE delivered_at IS NULL;

CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    client_ip    text
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at DESC, id DESC);
