-- Foundation schema: tenants, users and their dashboard sessions, API tokens, streams and stream keys,
-- idempotency records and instance-level secrets. Every tenant-owned row carries tenant_id.
-- Secrets (passwords, tokens, keys) are stored only as hashes.

CREATE TABLE instance_settings (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL,
    default_limits       jsonb NOT NULL,
    max_concurrent_live  integer NOT NULL DEFAULT 10 CHECK (max_concurrent_live >= 0),
    suspended_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'owner',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_tenant_idx ON users (tenant_id);

-- Dashboard sessions: the cookie is ses_<id>_<secret>; only the hash of the secret is kept.
CREATE TABLE user_sessions (
    id            text PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash   bytea NOT NULL,
    client_ip     text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE api_tokens (
    id                  text PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text NOT NULL,
    secret_hash         bytea NOT NULL,
    created_by_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz,
    revoked_at          timestamptz
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant_id, created_at DESC, id DESC);

CREATE TABLE streams (
    id                                uuid PRIMARY KEY,
    tenant_id                         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                              text NOT NULL,
    enabled                           boolean NOT NULL DEFAULT true,
    live                              boolean NOT NULL DEFAULT false,
    auth_mode                         text NOT NULL DEFAULT 'key' CHECK (auth_mode IN ('key', 'token', 'key+token')),
    limits                            jsonb NOT NULL,
    ip_allowlist                      text[] NOT NULL DEFAULT '{}',
    reconnect_window_seconds          integer NOT NULL DEFAULT 30,
    max_continuous_duration_seconds   integer NOT NULL DEFAULT 43200,
    takeover                          boolean NOT NULL DEFAULT true,
    recording                         boolean NOT NULL DEFAULT false,
    playback_id                       text NOT NULL,
    hls_url                           text,
    created_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                        timestamptz NOT NULL DEFAULT now(),
    last_live_at                      timestamptz,
    CONSTRAINT streams_playback_id_key UNIQUE (playback_id)
);
CREATE INDEX streams_tenant_idx ON streams (tenant_id, created_at DESC, id DESC);

-- Stream keys are sk_<id>_<secret>; the id is public (it is the key's prefix), the secret is only hashed.
CREATE TABLE stream_keys (
    id            text PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream_id     uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    secret_hash   bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE INDEX stream_keys_stream_idx ON stream_keys (stream_id, created_at DESC);

-- Idempotency-Key records. The client's key is stored only as a hash (lookup_hash) and the stored
-- response is encrypted with a key derived from the client's key, so a dump cannot replay a secret
-- that was shown once (a stream key, an API token).
CREATE TABLE idempotency_records (
    scope          text NOT NULL,
    lookup_hash    bytea NOT NULL,
    fingerprint    bytea NOT NULL,
    status         smallint,
    response       bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, lookup_hash)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);
