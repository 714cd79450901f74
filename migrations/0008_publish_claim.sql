-- The live-claim half of publish authorization in one round trip (docs/decisions.md, "Publish
-- authorization in two round trips"). The API checks the credentials, the allowlists and the
-- stream's state itself, then calls this once: under the stream's row lock it decides between
-- continuing the active session (a reconnect within the window, or a takeover by the same
-- credentials), starting a new one (ending a session whose window is over, or the one a takeover
-- replaces when the window is 0) and refusing (already_live, tenant_quota, token_replayed), and it
-- records the publish attempt and marks the key used, all in one transaction. Refusals are decided
-- before anything is written, so a refusal changes nothing but the attempt log (and the spent-token
-- housekeeping).

-- An attempt that names a tenant always names a stream of it, whose foreign key already removes
-- the attempt with the stream (and so with the tenant). The tenant key was a second check per
-- attempt, and under concurrent publishes of one tenant every one of them share-locked the same
-- tenant row (multixacts on the hottest row of the claim).
ALTER TABLE publish_attempts DROP CONSTRAINT publish_attempts_tenant_id_fkey;

CREATE FUNCTION inlet_publish_claim(
    p_attempt      uuid,         -- the publish attempt's id
    p_tenant       uuid,
    p_stream       uuid,
    p_node         text,         -- the ingest node asking
    p_key          text,         -- the stream key presented, when keys count for this stream
    p_need_key     boolean,      -- the stream's auth mode requires a key
    p_jti          text,         -- a single-use token's id, to spend
    p_jti_expires  timestamptz,
    p_new_session  uuid,         -- the id of the session, if a new one starts
    p_request      uuid,         -- the id of the disconnect request, if one is needed
    p_client_ip    text,
    p_app          text,
    p_tls          boolean)
RETURNS TABLE (
    outcome        text,         -- 'accepted' or the refusal's reason code
    session_id     uuid,
    started_at     timestamptz,
    resumed        boolean,
    old_node       text,         -- the node the continued session was on
    ended_reason   text,         -- a session this call ended, and why
    detail         text)         -- the sentence recorded with the attempt
LANGUAGE plpgsql AS $$
DECLARE
    s           record;
    v_plan      text;
    v_replaces  uuid;
    v_end       text;
    v_live      bigint;
    v_max       integer;
    v_refusal   text;
    v_session   uuid;
    v_started   timestamptz;
    v_n         bigint;
BEGIN
    SELECT st.active_session_id AS active, st.reconnect_window_seconds AS window_secs, st.takeover,
           ps.key_id AS active_key, ps.disconnected_at, ps.disconnect_reason, ps.node_id AS active_node,
           COALESCE(ps.disconnected_at + make_interval(secs => st.reconnect_window_seconds) > now(),
                    false) AS within_window
      INTO s
      FROM streams st LEFT JOIN publish_sessions ps ON ps.id = st.active_session_id
     WHERE st.id = p_stream AND st.tenant_id = p_tenant
       FOR UPDATE OF st;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'stream % of tenant % is gone', p_stream, p_tenant;
    END IF;

    IF s.active IS NULL THEN
        v_plan := 'new';
    ELSIF s.disconnected_at IS NOT NULL AND s.within_window THEN
        -- The publisher dropped and is back within the window (or another one with valid
        -- credentials is): the session continues.
        v_plan := 'resume';
    ELSIF s.disconnected_at IS NOT NULL THEN
        -- The window is over (the sweep had not ended it yet): end it, then claim anew.
        v_plan := 'expired';
    ELSIF s.takeover AND ((p_key IS NOT NULL AND p_key = s.active_key)
            -- Token-only streams: a valid token for this stream is the same credential.
            OR (p_key IS NULL AND s.active_key IS NULL AND NOT p_need_key)) THEN
        -- A stale connection's own publisher is back: with a window it continues its session,
        -- without one it replaces it.
        IF s.window_secs > 0 THEN
            v_plan := 'resume';
        ELSE
            v_plan := 'new';
            v_replaces := s.active;
        END IF;
    ELSE
        v_refusal := 'already_live';
        detail := 'Another publisher is live on this stream. Stop it first, or publish with the same stream key to take over.';
    END IF;

    IF v_refusal IS NULL AND v_plan IN ('new', 'expired') AND v_replaces IS NULL THEN
        -- The tenant row is not locked: publishes of different streams do not queue behind each
        -- other, and racing ones may overshoot the quota within the same instant (documented).
        SELECT t.max_concurrent_live INTO v_max FROM tenants t WHERE t.id = p_tenant;
        SELECT count(*) INTO v_live FROM streams o
         WHERE o.tenant_id = p_tenant AND o.active_session_id IS NOT NULL AND o.id <> p_stream;
        IF v_live >= v_max THEN
            v_refusal := 'tenant_quota';
            detail := format('Your organization already has %s live streams, its limit; end one before starting another.', v_live);
        END IF;
    END IF;

    IF v_refusal IS NULL AND p_jti IS NOT NULL THEN
        -- Tokens past their expiry (and the clock skew) can never be replayed: forget them.
        DELETE FROM used_publish_tokens u
         WHERE u.tenant_id = p_tenant AND u.expires_at < now() - interval '5 minutes';
        INSERT INTO used_publish_tokens (jti, tenant_id, expires_at)
        VALUES (p_jti, p_tenant, p_jti_expires) ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 0 THEN
            v_refusal := 'token_replayed';
            detail := 'This single-use publish token was already used; mint a new one.';
        END IF;
    END IF;

    IF v_refusal IS NOT NULL THEN
        INSERT INTO publish_attempts (id, tenant_id, stream_id, key_id, session_id, result, reason_code,
                                      detail, client_ip, app, tls, node_id, resumed)
        VALUES (p_attempt, p_tenant, p_stream, p_key, NULL, 'refused', v_refusal, detail,
                p_client_ip, p_app, p_tls, p_node, false);
        outcome := v_refusal;
        resumed := false;
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_plan = 'expired' THEN
        v_end := COALESCE(s.disconnect_reason, 'reconnect_window_elapsed');
        UPDATE publish_sessions ps SET ended_at = now(), end_reason = v_end
         WHERE ps.id = s.active AND ps.tenant_id = p_tenant AND ps.ended_at IS NULL;
        IF NOT FOUND THEN
            v_end := NULL;
        END IF;
        v_plan := 'new';
    END IF;

    IF v_plan = 'resume' THEN
        v_session := s.active;
        UPDATE publish_sessions ps SET disconnected_at = NULL, disconnect_reason = NULL,
               reconnects = ps.reconnects + 1, node_id = p_node, key_id = p_key, resumed_at = now()
         WHERE ps.id = v_session AND ps.tenant_id = p_tenant AND ps.ended_at IS NULL
        RETURNING ps.started_at INTO v_started;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'active session % vanished under the stream lock', v_session;
        END IF;
        -- The old connection on another node is cut there; on the same node the ingest hands
        -- the session over itself.
        IF s.active_node IS NOT NULL AND s.active_node <> p_node THEN
            INSERT INTO disconnect_requests (id, tenant_id, stream_id, session_id, node_id, reason)
            VALUES (p_request, p_tenant, p_stream, v_session, s.active_node, 'takeover');
        END IF;
        old_node := s.active_node;
        resumed := true;
        detail := 'publish accepted: it continues the live session';
    ELSE
        v_session := p_new_session;
        INSERT INTO publish_sessions (id, tenant_id, stream_id, node_id, started_at, key_id)
        VALUES (v_session, p_tenant, p_stream, p_node, now(), p_key)
        RETURNING publish_sessions.started_at INTO v_started;
        UPDATE streams st SET live = true, active_session_id = v_session, last_live_at = now(),
               hls_url = NULL
         WHERE st.id = p_stream AND st.tenant_id = p_tenant;
        IF v_replaces IS NOT NULL THEN
            INSERT INTO disconnect_requests (id, tenant_id, stream_id, session_id, node_id, reason)
            VALUES (p_request, p_tenant, p_stream, v_replaces, NULL, 'takeover');
            UPDATE publish_sessions ps SET ended_at = now(), end_reason = 'takeover'
             WHERE ps.id = v_replaces AND ps.tenant_id = p_tenant AND ps.ended_at IS NULL;
            IF FOUND THEN
                v_end := 'takeover';
            END IF;
        END IF;
        resumed := false;
        detail := 'publish accepted';
    END IF;

    INSERT INTO publish_attempts (id, tenant_id, stream_id, key_id, session_id, result, reason_code,
                                  detail, client_ip, app, tls, node_id, resumed)
    VALUES (p_attempt, p_tenant, p_stream, p_key, v_session, 'accepted', NULL, detail,
            p_client_ip, p_app, p_tls, p_node, resumed);
    IF p_key IS NOT NULL THEN
        -- To the minute: a reconnect storm does not rewrite the key's row on every publish.
        UPDATE stream_keys k SET last_used_at = now()
         WHERE k.id = p_key AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    END IF;
    outcome := 'accepted';
    session_id := v_session;
    started_at := v_started;
    ended_reason := v_end;
    RETURN NEXT;
END;
$$;
