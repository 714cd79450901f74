-- Team members with roles and one-time password-reset links (docs/api.md, "Members and roles";
-- docs/decisions.md, "Roles: owner, admin, viewer; tokens keep their creator's role").
--
-- Every existing user was the owner of their tenant (the column's old default), and stays one.
UPDATE users SET role = 'owner';
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'viewer';
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('owner', 'admin', 'viewer'));
-- An invited member has no password until they use their reset link.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
CREATE INDEX users_tenant_created_idx ON users (tenant_id, created_at DESC, id DESC);

-- A token acts with the role its creator had when creating it (capped when the creator is demoted).
-- Existing tokens were all made by or for owners.
ALTER TABLE api_tokens ADD COLUMN role text NOT NULL DEFAULT 'owner'
    CHECK (role IN ('owner', 'admin', 'viewer'));
ALTER TABLE api_tokens ALTER COLUMN role DROP DEFAULT;
CREATE INDEX api_tokens_created_by_idx ON api_tokens (created_by_user_id) WHERE revoked_at IS NULL;

-- Password-reset links: rst_<id>_<secret>, the secret stored only as a hash, valid 24 h, used once.
-- A user has at most one: issuing a new link deletes the older ones.
CREATE TABLE password_resets (
    id           text PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  bytea NOT NULL,
    -- Who issued it: user:<id>, token:<id> or operator.
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
