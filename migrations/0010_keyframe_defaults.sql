-- Keyframe limits that let stock encoders in (docs/decisions.md, "Keyframe interval defaults"):
-- stock OBS sends a keyframe every 8.3 s, which the old default (reject above 4 s) cut after ~10 s.
-- Now a keyframe interval above 4 s flags a warning with the fix, and only above 10 s does
-- `on_violation` apply. Limits still at the old default move to the new ones; limits someone set
-- to another value keep it (and get the 4 s warning).
UPDATE tenants SET default_limits = default_limits
        || jsonb_build_object('max_keyframe_interval_ms', 10000)
 WHERE (default_limits ->> 'max_keyframe_interval_ms')::int = 4000;
UPDATE tenants SET default_limits = default_limits || jsonb_build_object('warn_keyframe_interval_ms', 4000)
 WHERE NOT default_limits ? 'warn_keyframe_interval_ms';
UPDATE streams SET limits = limits || jsonb_build_object('max_keyframe_interval_ms', 10000)
 WHERE (limits ->> 'max_keyframe_interval_ms')::int = 4000;
UPDATE streams SET limits = limits || jsonb_build_object('warn_keyframe_interval_ms', 4000)
 WHERE NOT limits ? 'warn_keyframe_interval_ms';
