-- Events and webhooks (docs/webhooks.md). Every change a customer's backend cares about becomes an
-- event row written in the same transaction as the change (a transactional outbox), with a
-- per-stream `sequence` allocated in that transaction: the sequence row is locked until commit, so
-- per stream the sequence has no gaps, is never reused and commits in order. The same statement
-- fans the event out into one pending delivery per matching enabled webhook and wakes the delivery
-- workers with NOTIFY (sent at commit). SQL emits events through `inlet_emit` only; the session's
-- end goes through `inlet_session_end` only, whoever ends it (the ingest's report, the sweep, the
-- live claim), so a session's life and its events are decided in one place.

-- Per-scope event counters: a stream's id, or for events that concern no stream (webhook.*) the
-- object's id. Not tied to the stream's row, so a stream's last events (stream.deleted) keep it.
CREATE TABLE event_sequences (
    scope_id       text PRIMARY KEY,
    last_sequence  bigint NOT NULL
);

CREATE TABLE events (
    id           text PRIMARY KEY,                 -- evt_<32 hex>, time-ordered
    -- No foreign key to tenants: every event would key-share-lock its tenant's row, the hottest
    -- row of a busy tenant (as migration 0008 found for publish attempts). Events leave with the
    -- retention sweep.
    tenant_id    uuid NOT NULL,
    type         text NOT NULL,
    object_type  text NOT NULL,
    object_id    text NOT NULL,
    -- No foreign keys: events outlive the stream and the session they describe.
    stream_id    uuid,
    session_id   uuid,
    scope_id     text NOT NULL,
    sequence     bigint NOT NULL,
    data         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Replay order: the writing transaction, then the order within it. Listing only events of
    -- transactions older than every running one (pg_snapshot_xmin) makes a page final: no event
    -- can later appear before the cursor.
    txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    pos          bigserial NOT NULL
    -- No unique index on (scope_id, sequence): the sequence row's lock already makes it unique,
    -- and every index is one more write in each publish authorization.
);
CREATE INDEX events_replay_idx ON events (tenant_id, txid, pos);
-- For the retention sweep: rows are appended in time order, so a BRIN index finds the old ones
-- for the cost of a few pages, where a B-tree would be one more insert per event.
CREATE INDEX events_created_idx ON events USING brin (created_at);

CREATE TABLE webhooks (
    id                          uuid PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    event_types                 text[],            -- NULL: every type
    stream_ids                  uuid[],            -- NULL: every stream
    ordering                    text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'per_stream')),
    enabled                     boolean NOT NULL DEFAULT true,
    disabled_reason             text,
    -- Secrets are sealed with the API's secret key (ChaCha20-Poly1305): a dump does not yield them.
    secret_sealed               bytea NOT NULL,
    previous_secret_sealed      bytea,
    previous_secret_expires_at  timestamptz,
    secret_rotated_at           timestamptz,
    -- Since when every attempt failed (NULL after a success): five days of it disable the endpoint.
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id, created_at DESC, id DESC);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    scope_id         text NOT NULL,
    sequence         bigint NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A worker's claim: until then no other worker takes it; a crashed worker's claims come back.
    lease_until      timestamptz,
    lease_owner      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
-- The claim's order, so a claim walks the index instead of sorting the whole due backlog.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, sequence)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, scope_id, sequence)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Every attempt, for the deliveries log.
CREATE TABLE webhook_attempts (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL,
    -- No foreign key to webhooks (the delivery's already cascades; each attempt would key-share-lock
    -- the endpoint's row, on which every send to it queues).
    webhook_id        uuid NOT NULL,
    delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    attempt           integer NOT NULL,
    at                timestamptz NOT NULL DEFAULT now(),
    succeeded         boolean NOT NULL,
    status_code       integer,
    error             text,
    latency_ms        integer NOT NULL,
    response_excerpt  text NOT NULL DEFAULT '',
    -- What this attempt scheduled: the next try, or NULL (delivered, exhausted, or not retried).
    next_attempt_at   timestamptz
);
CREATE INDEX webhook_attempts_list_idx ON webhook_attempts (webhook_id, at DESC, id DESC);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id);

-- stream.rejected is coalesced per stream, reason code and minute.
CREATE TABLE stream_rejections (
    stream_id    uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    reason_code  text NOT NULL,
    minute       timestamptz NOT NULL,
    event_id     text,
    count        integer NOT NULL,
    PRIMARY KEY (stream_id, reason_code, minute)
);

-- Which figures of a live session are outside their limits now (for stream.unhealthy/healthy).
ALTER TABLE publish_sessions ADD COLUMN unhealthy text[] NOT NULL DEFAULT '{}';

-- The stream as events carry it in `data.stream` (the public fields that do not depend on the
-- API's configuration; the OBS fields are not repeated).
-- plpgsql, not sql: a non-inlinable SQL function is planned again on every call, plpgsql caches
-- the plan of its query (this runs in every publish authorization).
CREATE FUNCTION inlet_stream_snapshot(p_stream uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'id', s.id,
        'name', s.name,
        'status', CASE WHEN NOT s.enabled THEN 'disabled' WHEN s.live THEN 'live' ELSE 'idle' END,
        'enabled', s.enabled,
        'auth_mode', s.auth_mode,
        'playback', CASE WHEN s.hls_url IS NULL THEN NULL ELSE jsonb_build_object('hls_url', s.hls_url) END,
        'limits', s.limits,
        'ip_allowlist', to_jsonb(s.ip_allowlist),
        'reconnect_window_seconds', s.reconnect_window_seconds,
        'max_continuous_duration_seconds', s.max_continuous_duration_seconds,
        'takeover', s.takeover,
        'recording', s.recording,
        'created_at', s.created_at,
        'last_live_at', s.last_live_at,
        'active_session', CASE WHEN ps.id IS NULL THEN NULL ELSE jsonb_build_object(
            'id', ps.id,
            'state', CASE WHEN ps.disconnected_at IS NULL THEN 'live' ELSE 'reconnecting' END,
            'node_id', ps.node_id,
            'started_at', ps.started_at,
            'reconnects', ps.reconnects) END)
      FROM streams s LEFT JOIN publish_sessions ps ON ps.id = s.active_session_id
     WHERE s.id = p_stream);
END;
$$;

-- Writes one event (with the stream's snapshot when it concerns a stream that still exists) and,
-- unless p_fanout is false, one pending delivery per enabled webhook of the tenant whose filters
-- take it. Answers the event id.
CREATE FUNCTION inlet_emit(
    p_tenant       uuid,
    p_type         text,
    p_object_type  text,
    p_object_id    text,
    p_stream       uuid,
    p_session      uuid,
    p_fields       jsonb,
    p_fanout       boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    -- 12 hex digits of milliseconds, then 20 random: ids grow with time, so the primary key's
    -- inserts land at its right edge instead of on random pages.
    v_id     text := 'evt_' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
                    || substr(replace(gen_random_uuid()::text, '-', ''), 1, 20);
    v_scope  text := COALESCE(p_stream::text, p_object_id);
    v_seq    bigint;
    v_data   jsonb := COALESCE(p_fields, '{}'::jsonb);
    v_snap   jsonb;
    v_n      bigint;
BEGIN
    INSERT INTO event_sequences AS q (scope_id, last_sequence) VALUES (v_scope, 1)
    ON CONFLICT (scope_id) DO UPDATE SET last_sequence = q.last_sequence + 1
    RETURNING q.last_sequence INTO v_seq;
    IF p_stream IS NOT NULL AND NOT v_data ? 'stream' THEN
        v_snap := inlet_stream_snapshot(p_stream);
        IF v_snap IS NOT NULL THEN
            v_data := jsonb_build_object('stream', v_snap) || v_data;
        END IF;
    END IF;
    INSERT INTO events (id, tenant_id, type, object_type, object_id, stream_id, session_id, scope_id,
                        sequence, data)
    VALUES (v_id, p_tenant, p_type, p_object_type, p_object_id, p_stream, p_session, v_scope, v_seq,
            v_data);
    IF p_fanout THEN
        INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_id, scope_id, sequence)
        SELECT gen_random_uuid(), w.tenant_id, w.id, v_id, v_scope, v_seq
          FROM webhooks w
         WHERE w.tenant_id = p_tenant AND w.enabled
           AND (w.event_types IS NULL OR p_type = ANY (w.event_types))
           AND (w.stream_ids IS NULL OR p_stream = ANY (w.stream_ids));
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n > 0 THEN
            PERFORM pg_notify('inlet_webhook_deliveries', '');
        END IF;
    END IF;
    RETURN v_id;
END;
$$;

-- Ends a session (the first end and its reason win), frees its stream and writes stream.idle with
-- the session's summary, all under the stream's row lock (taken first, as the live claim does, so
-- the two never deadlock). p_node: only if the session is on that node (a report), NULL for the
-- API's own decisions. Answers whether this call ended it; a retried end changes nothing but still
-- makes sure the stream is not left on an ended session.
CREATE FUNCTION inlet_session_end(
    p_tenant   uuid,
    p_session  uuid,
    p_reason   text,
    p_at       timestamptz,
    p_node     text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_stream         uuid;
    v_was_connected  boolean;
    ps               record;
BEGIN
    SELECT p.stream_id INTO v_stream FROM publish_sessions p
     WHERE p.id = p_session AND p.tenant_id = p_tenant;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM streams st WHERE st.id = v_stream AND st.tenant_id = p_tenant FOR UPDATE;
    SELECT p.disconnected_at IS NULL INTO v_was_connected FROM publish_sessions p
     WHERE p.id = p_session FOR UPDATE;
    UPDATE publish_sessions p SET ended_at = p_at, end_reason = p_reason
     WHERE p.id = p_session AND p.tenant_id = p_tenant AND p.ended_at IS NULL
       AND (p_node IS NULL OR p.node_id = p_node)
    RETURNING p.* INTO ps;
    UPDATE streams st SET live = false, hls_url = NULL, active_session_id = NULL
     WHERE st.id = v_stream AND st.tenant_id = p_tenant AND st.active_session_id = p_session
       AND EXISTS (SELECT 1 FROM publish_sessions p WHERE p.id = p_session AND p.ended_at IS NOT NULL);
    IF ps.id IS NULL THEN
        RETURN false;
    END IF;
    IF v_was_connected THEN
        -- The publisher was still connected (a deliberate stop, a cut, a broken limit, a lost
        -- node): its connection ends with the session, so receivers see every session's
        -- disconnected before its idle. No reconnect window runs.
        PERFORM inlet_emit(p_tenant, 'stream.disconnected', 'stream', v_stream::text, v_stream, p_session,
            jsonb_build_object('session_id', p_session, 'reason', p_reason,
                               'reconnect_window_seconds', 0, 'reconnect_deadline', NULL));
    END IF;
    PERFORM inlet_emit(p_tenant, 'stream.idle', 'stream', v_stream::text, v_stream, p_session,
        jsonb_build_object(
            'end_reason', p_reason,
            'session', jsonb_build_object(
                'id', ps.id,
                'started_at', ps.started_at,
                'ended_at', ps.ended_at,
                'duration_seconds', round(EXTRACT(EPOCH FROM (ps.ended_at - ps.started_at))::numeric, 3),
                'reconnects', ps.reconnects,
                'bytes', ps.bytes,
                'peak_bitrate_kbps', ps.peak_bitrate_kbps,
                'avg_bitrate_kbps', CASE WHEN ps.health_count > 0
                                         THEN round(ps.bitrate_sum::numeric / ps.health_count) END)));
    RETURN true;
END;
$$;

-- Writes stream.rejected for a refused publish on a known stream, at most once per stream, reason
-- code and minute: later refusals of that minute raise the event's `count` instead (a delivery not
-- yet sent carries the count at its sending; replay shows the final count).
CREATE FUNCTION inlet_stream_rejected(
    p_tenant     uuid,
    p_stream     uuid,
    p_reason     text,
    p_detail     text,
    p_client_ip  text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_minute  timestamptz := date_trunc('minute', now());
    v_event   text;
    v_count   integer;
BEGIN
    INSERT INTO stream_rejections AS r (stream_id, reason_code, minute, count)
    VALUES (p_stream, p_reason, v_minute, 1)
    ON CONFLICT (stream_id, reason_code, minute) DO UPDATE SET count = r.count + 1
    RETURNING r.event_id, r.count INTO v_event, v_count;
    IF v_count = 1 THEN
        v_event := inlet_emit(p_tenant, 'stream.rejected', 'stream', p_stream::text, p_stream, NULL,
            jsonb_build_object('reason_code', p_reason, 'detail', p_detail, 'client_ip', p_client_ip,
                               'count', 1, 'minute', v_minute));
        UPDATE stream_rejections SET event_id = v_event
         WHERE stream_id = p_stream AND reason_code = p_reason AND minute = v_minute;
    ELSIF v_event IS NOT NULL THEN
        UPDATE events SET data = jsonb_set(data, '{count}', to_jsonb(v_count)) WHERE id = v_event;
    END IF;
END;
$$;

-- The live claim of migration 0008, now writing its events: stream.rejected for its refusals,
-- stream.idle for a session it ends (through inlet_session_end), stream.connected for the session
-- it starts or continues.
CREATE OR REPLACE FUNCTION inlet_publish_claim(
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
        PERFORM inlet_stream_rejected(p_tenant, p_stream, v_refusal, detail, p_client_ip);
        outcome := v_refusal;
        resumed := false;
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_plan = 'expired' THEN
        v_end := COALESCE(s.disconnect_reason, 'reconnect_window_elapsed');
        IF NOT inlet_session_end(p_tenant, s.active, v_end, now(), NULL) THEN
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
        IF v_replaces IS NOT NULL THEN
            -- The replaced session ends (stream.idle) before the new one starts (stream.connected).
            INSERT INTO disconnect_requests (id, tenant_id, stream_id, session_id, node_id, reason)
            VALUES (p_request, p_tenant, p_stream, v_replaces, NULL, 'takeover');
            IF inlet_session_end(p_tenant, v_replaces, 'takeover', now(), NULL) THEN
                v_end := 'takeover';
            END IF;
        END IF;
        INSERT INTO publish_sessions (id, tenant_id, stream_id, node_id, started_at, key_id)
        VALUES (v_session, p_tenant, p_stream, p_node, now(), p_key)
        RETURNING publish_sessions.started_at INTO v_started;
        UPDATE streams st SET live = true, active_session_id = v_session, last_live_at = now(),
               hls_url = NULL
         WHERE st.id = p_stream AND st.tenant_id = p_tenant;
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
    PERFORM inlet_emit(p_tenant, 'stream.connected', 'stream', p_stream::text, p_stream, v_session,
        jsonb_build_object('resumed', resumed, 'session_id', v_session, 'node_id', p_node,
                           'client_ip', p_client_ip, 'tls', p_tls, 'key_id', p_key));
    outcome := 'accepted';
    session_id := v_session;
    started_at := v_started;
    ended_reason := v_end;
    RETURN NEXT;
END;
$$;
