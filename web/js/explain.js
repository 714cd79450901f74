// "Why did my publish fail?": each reason code (docs/troubleshooting.md) of a publish attempt, and each way a session
// ends, in plain words with the fix, made specific to the customer's own stream (its Server path,
// its keys, its allowlists) and, for rotated or revoked keys, to the audit log (when and by whom).
// Pure functions, no DOM: also used by the dashboard's unit tests under Node.

import { admits } from "./cidr.js";

/** The RTMP app a Server URL ends in: `live` for rtmp://host:1935/live. */
export function appOf(server) {
  const m = /^[a-z]+:\/\/[^/]+\/([^?#]*)/i.exec(server || "");
  return m ? m[1].replace(/\/+$/, "") : "";
}

/** Date and time in the viewer's time zone, e.g. "25 Nov 2026, 08:15:03". */
export function when(iso, locale) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium" });
}

/** A span of seconds in words: "5 min", "1 h", "2 days", "45 s". */
export function seconds(n) {
  const s = Math.round(Number(n) || 0);
  if (s % 86400 === 0 && s >= 86400) return `${s / 86400} day${s === 86400 ? "" : "s"}`;
  if (s % 3600 === 0 && s >= 3600) return `${s / 3600} h`;
  if (s % 60 === 0 && s >= 60) return `${s / 60} min`;
  return `${s} s`;
}

/**
 * Who an audit actor is, for a sentence: "you (ops@acme.example)", "the API token “ci”".
 * @param {string} actor `user:<id>`, `token:<id>` or `system` (Inlet's own decisions)
 * @param {{me?: any, apiTokens?: any[]}} ctx
 */
export function describeActor(actor, ctx = {}) {
  const [kind, id] = String(actor || "").split(":");
  if (kind === "user") {
    const me = ctx.me && ctx.me.user;
    if (me && me.id === id) return `you (${me.email})`;
    return `another user of your organization (user ${id})`;
  }
  if (kind === "token") {
    const t = (ctx.apiTokens || []).find((x) => x.id === id);
    return t ? `the API token “${t.name}” (inlet_${id})` : `the API token inlet_${id}`;
  }
  if (kind === "system") return "Inlet itself";
  if (kind === "operator") return "the operator of this Inlet";
  return actor || "someone";
}

/** `sk_<id>…` of a key id. */
const keyHint = (id) => `sk_${id}…`;

/** The stream's current key, as the stream object shows it. */
function currentKey(stream) {
  const hint = stream && stream.ingest && stream.ingest.rtmp && stream.ingest.rtmp.stream_key_hint;
  return hint || null;
}

function serverOf(stream, tls) {
  const ingest = (stream && stream.ingest) || {};
  const ep = tls ? ingest.rtmps : ingest.rtmp;
  return (ep && ep.server) || (ingest.rtmp && ingest.rtmp.server) || "";
}

/** The newest audit entry that matches, at or before `at` (entries come newest first). */
function auditFor(audit, at, match) {
  const t = new Date(at).getTime();
  return (audit || []).find((e) => match(e) && new Date(e.at).getTime() <= t + 1000) || null;
}

const copyCurrent = (stream) => {
  const cur = currentKey(stream);
  return cur
    ? `Copy the current key (${cur}) into your encoder's Stream Key field. The full key is shown only once, right after a rotation: if you no longer have it, rotate again (Keys & tokens) and use the new one.`
    : "This stream has no working key now: rotate (Keys & tokens) to get a new one, and put it into your encoder's Stream Key field.";
};

/** What to change in the encoder for a broken limit, from the sentence the encoder was told. */
export function limitFix(detail) {
  const d = String(detail || "").toLowerCase();
  if (d.includes("height") || d.includes("width")) {
    return "Lower the output resolution (OBS: Settings → Video → Output (Scaled) Resolution; ffmpeg: -s or -vf scale), or raise the limit in Settings → Limits.";
  }
  if (d.includes("keyframe")) {
    return "Set the keyframe interval to 2 s (OBS: Settings → Output → Keyframe Interval; ffmpeg: -g at twice the frame rate), or raise the limit in Settings → Limits.";
  }
  if (d.includes("bitrate")) {
    return "Lower the encoder's bitrate (OBS: Settings → Output → Video Bitrate; ffmpeg: -b:v with -maxrate and -bufsize), or raise the limit in Settings → Limits.";
  }
  if (d.includes("frame rate") || d.includes("fps")) {
    return "Lower the frame rate (OBS: Settings → Video → Common FPS Values; ffmpeg: -r), or raise the limit in Settings → Limits.";
  }
  if (d.includes("video codec")) {
    return "Publish H.264 video (OBS: Settings → Output → Video Encoder: x264 or another H.264 encoder), or allow the codec in Settings → Limits.";
  }
  if (d.includes("audio codec")) {
    return "Publish AAC audio (OBS: Settings → Output → Audio Encoder: AAC), or allow the codec in Settings → Limits.";
  }
  return "Change the encoder's settings to stay within the stream's limits, or raise them in Settings → Limits.";
}

/**
 * Explains one publish attempt.
 * @param {any} a the attempt (GET /v1/streams/{id}/attempts)
 * @param {{stream: any, keys?: any[], audit?: any[], me?: any, apiTokens?: any[],
 *          tenantAllowlist?: string[]|null, locale?: string}} ctx
 * @returns {{summary: string, fix: string}}
 */
export function explainAttempt(a, ctx) {
  const stream = ctx.stream || {};
  const locale = ctx.locale;
  const expected = appOf(serverOf(stream, a.tls)) || "live";
  const server = serverOf(stream, a.tls);
  const detail = a.detail || "";
  switch (a.reason_code) {
    case null:
    case undefined:
      if (a.result === "accepted") {
        return {
          summary: `Accepted: the publish from ${a.client_ip} started${a.key_id ? ` with the key ${keyHint(a.key_id)}` : ""}.`,
          fix: "",
        };
      }
      return { summary: detail, fix: "" };
    case "unknown_app": {
      if (/^sk_/.test(a.app || "")) {
        return {
          summary: `Your encoder's Server field ends with the stream key instead of /${expected}, so it connected to the key as if it were the server path.`,
          fix: `In OBS, set Server to ${server} (nothing after /${expected}) and put the key only in the Stream Key field.`,
        };
      }
      return {
        summary: `Your encoder connected to /${a.app || ""}; the server path is /${expected}. In OBS, the Server field must end in /${expected}.`,
        fix: `Copy the Server field from this stream's Overview (${server}) into the encoder, exactly as shown, and keep the key in the Stream Key field.`,
      };
    }
    case "play_not_supported":
      return {
        summary: "A player asked to play this stream over RTMP. The ingest only accepts publishes.",
        fix: "Viewers play the HLS URL shown on the Overview while the stream is live.",
      };
    case "invalid_key": {
      if (/^Too many failed/i.test(detail)) {
        return {
          summary: `Too many wrong keys or tokens came from ${a.client_ip}, so publishes from that address are paused for a few minutes, even with the right key.`,
          fix: "Stop the encoder that keeps failing (often one that still holds an old key, or another encoder behind the same address), fix its key, and wait for the pause to end.",
        };
      }
      if (a.key_id) {
        return {
          summary: `The key starts like this stream's key ${keyHint(a.key_id)}, but the rest of it (the secret part) did not match: it was probably cut short, mistyped, or pasted with a space or line break.`,
          fix: `Copy the full key again, with nothing around it. ${copyCurrent(stream)}`,
        };
      }
      return {
        summary: `Your encoder sent no stream key of this stream, only a publish token, but this stream's auth mode is “${stream.auth_mode || "key"}”, which needs the key.`,
        fix: "Put the stream key into the Stream Key field (with ?token=… after it for key+token), or switch the auth mode to “token” in Settings.",
      };
    }
    case "key_revoked": {
      const e = auditFor(
        ctx.audit,
        a.at,
        (x) => x.action === "stream_key.revoked" && x.target_id === a.key_id,
      );
      const by = e ? ` on ${when(e.at, locale)} by ${describeActor(e.actor, ctx)}` : "";
      return {
        summary: `Your encoder used the key ${keyHint(a.key_id || "")}, which was revoked${by}.`,
        fix: copyCurrent(stream),
      };
    }
    case "key_expired": {
      const key = (ctx.keys || []).find((k) => k.id === a.key_id);
      const e = auditFor(
        ctx.audit,
        a.at,
        (x) =>
          x.action === "stream_key.rotated" &&
          x.target_id === stream.id &&
          Array.isArray(x.details && x.details.older_key_ids) &&
          x.details.older_key_ids.includes(a.key_id),
      );
      let summary = `Your encoder used the old key ${keyHint(a.key_id || "")}, which was rotated`;
      if (e) summary += ` on ${when(e.at, locale)} by ${describeActor(e.actor, ctx)}`;
      if (key && key.expires_at) summary += ` and stopped working at ${when(key.expires_at, locale)}`;
      if (e && e.details) {
        const g = Number(e.details.grace_seconds || 0);
        summary += g > 0 ? ` (after a grace period of ${seconds(g)})` : " (at once, with no grace period)";
      }
      return { summary: `${summary}.`, fix: copyCurrent(stream) };
    }
    case "token_invalid": {
      if (/requires a publish token/i.test(detail)) {
        const form =
          stream.auth_mode === "token"
            ? "put the token itself into the Stream Key field (or sk_…?token=<token>)"
            : "add it after the key in the Stream Key field: sk_…?token=<token>";
        return {
          summary: `This stream's auth mode is “${stream.auth_mode}”, so a publish needs a publish token, and your encoder sent none.`,
          fix: `Mint a publish token (Keys & tokens) and ${form}; or switch the auth mode to “key” in Settings.`,
        };
      }
      return {
        summary: `The publish token was refused: ${detail}`,
        fix: "Mint a new token in Keys & tokens. Tokens your backend signs need alg EdDSA, the kid of one of your signing keys, aud “inlet-publish”, sub this stream's id and tid your organization's id (Account).",
      };
    }
    case "token_expired":
      return {
        summary: `The publish token had expired when the encoder connected (${detail}).`,
        fix: "Mint a new token just before starting the encoder, with a TTL that covers the wait. A token is checked only when the publish starts, not while it runs.",
      };
    case "token_replayed":
      return {
        summary: "This single-use publish token had been used already; an encoder that reconnects sends its token again.",
        fix: "Mint a new token for each publish, or mint one without “single use” for encoders that reconnect by themselves.",
      };
    case "ip_not_allowed": {
      const tenant = /organization/i.test(detail);
      const list = tenant ? ctx.tenantAllowlist || null : stream.ip_allowlist || [];
      const which = tenant ? "your organization's IP allowlist" : "this stream's IP allowlist";
      let summary = `Your encoder connects from ${a.client_ip}, which ${which} does not include`;
      if (list && list.length > 0) summary += ` (it lists ${list.join(", ")})`;
      summary += ".";
      if (list && admits(list, a.client_ip)) {
        summary += ` The list has changed since then and now admits ${a.client_ip}: the next publish gets in.`;
      }
      const where = tenant ? "Account → Organization IP allowlist" : "Settings → IP allowlist";
      return {
        summary,
        fix: `To allow it, add ${a.client_ip} (or its network) in ${where}, or empty the list to admit any address. Behind NAT, a proxy or a VPN, the address that counts is the public one shown here.`,
      };
    }
    case "stream_disabled":
      if (/suspended/i.test(detail)) {
        return {
          summary: "Your organization is suspended, so every publish is refused.",
          fix: "Contact the operator of the service.",
        };
      }
      return {
        summary: "This stream was disabled when your encoder connected.",
        fix: stream.enabled
          ? "It is enabled now: the next publish gets in."
          : "Enable the stream (Settings → Stream), then start the encoder again.",
      };
    case "already_live":
      return {
        summary: "Another encoder was already live on this stream, and this publish did not come with the same key (or takeover is off), so it could not take over.",
        fix: `Stop the other encoder, or publish with the same key to take over${stream.takeover === false ? " (turn takeover on in Settings first)" : ""}. During a rotation's grace period the new key does not take over from an encoder still on the old key: stop that one first.`,
      };
    case "tenant_quota":
      return {
        summary: `Your organization already had as many live streams as it may have at once. ${detail}`,
        fix: "End another live stream first (Streams, filter “Live”), or ask the operator to raise the limit.",
      };
    case "limits_violation":
      return {
        summary: `The feed broke one of this stream's limits: ${detail}`,
        fix: limitFix(detail),
      };
    case "control_plane_unavailable":
      return {
        summary: "The ingest could not reach the control plane, so it refused the publish (it fails closed rather than let an unchecked publish in).",
        fix: "Retry in a moment. If it persists, the operator should check that the API is up and that the ingest's INLET_API_URL points at it.",
      };
    default:
      return { summary: detail || `Refused (${a.reason_code}).`, fix: "" };
  }
}

/** Why a session ended, in words. */
export function explainEnd(reason) {
  const r = String(reason || "");
  const kicked = r.startsWith("kicked:") ? r.slice(7) : null;
  const kicks = {
    key_rotated: "The key was rotated with “disconnect the live publisher”, so the encoder was cut.",
    key_revoked: "The key in use was revoked, so the encoder was cut.",
    stream_disabled: "The stream was disabled, so the encoder was cut.",
    stream_deleted: "The stream was deleted.",
    takeover: "Another connection with the same key took over.",
    tenant_suspended: "The organization was suspended.",
  };
  if (kicked !== null) return kicks[kicked] || `Cut by the service (${kicked}).`;
  const words = {
    publisher_left: "The encoder stopped publishing.",
    network_error: "The connection broke (network error).",
    idle_timeout: "The encoder stopped sending data (idle timeout).",
    write_timeout: "The encoder stopped reading from the server (write timeout).",
    shutdown: "The ingest was shut down.",
    takeover: "Another connection with the same key took over.",
    limits_violation: "The feed broke one of the stream's limits.",
    max_duration: "The session reached the stream's maximum continuous duration.",
    node_lost: "The ingest node stopped reporting.",
    node_restarted: "The ingest node restarted.",
    reconnect_window_elapsed: "The encoder dropped and did not come back within the reconnect window.",
    key_rotated: "The key was rotated with “disconnect the live publisher”, so the encoder was cut.",
    key_revoked: "The key in use was revoked, so the encoder was cut.",
    stream_disabled: "The stream was disabled, so the encoder was cut.",
  };
  return words[r] || (r ? r.replace(/_/g, " ") : "");
}
