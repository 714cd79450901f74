-- Single-use token ids are the tenant's own namespace: one tenant's jti must not collide with
-- another's. Expired rows are pruned as tokens are spent.
ALTER TABLE used_publish_tokens DROP CONSTRAINT used_publish_tokens_pkey;
ALTER TABLE used_publish_tokens ADD PRIMARY KEY (tenant_id, jti);
CREATE INDEX used_publish_tokens_expiry_idx ON used_publish_tokens (expires_at);
