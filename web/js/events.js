// The events Inlet emits (contract/src/events.rs, docs/webhooks.md): every type with what it means,
// for the webhook filters, and one event in plain words, for the stream's timeline and the
// deliveries log. Pure functions, no DOM: also used by the dashboard's unit tests under Node.

import { explainEnd, seconds } from "./explain.js";

/** Every event type, in the contract's order, with a short description. */
export const EVENT_TYPES = [
  ["stream.created", "A stream was created."],
  ["stream.updated", "A stream's settings changed."],
  ["stream.deleted", "A stream was deleted."],
  ["stream.enabled", "A stream was enabled."],
  ["stream.disabled", "A stream was disabled."],
  ["stream.connected", "An encoder's publish was accepted (or it reconnected)."],
  ["stream.active", "The first HLS segment is ready: playback works."],
  ["stream.disconnected", "The encoder dropped; the session waits for it."],
  ["stream.idle", "A session ended."],
  ["stream.rejected", "A publish was refused (once a minute per reason, with a count)."],
  ["stream.unhealthy", "A measured figure went outside the stream's limits."],
  ["stream.healthy", "A measured figure came back within the limits."],
  ["stream.limits_violation", "The feed broke a limit (rejected or flagged)."],
  ["stream.key_rotated", "A stream key was rotated."],
  ["stream.key_revoked", "A stream key was revoked."],
  ["recording.ready", "A recording is ready."],
  ["recording.failed", "A recording failed."],
  ["webhook.disabled", "Inlet disabled an endpoint (410 Gone, or five days of failures)."],
  ["webhook.test", "A test event sent from the dashboard or the API."],
];

const FIGURES = {
  max_bitrate_kbps: "Bitrate",
  max_fps: "Frame rate",
  max_keyframe_interval_ms: "Keyframe interval",
  max_width: "Width",
  max_height: "Height",
  video_codecs: "Video codec",
  audio_codecs: "Audio codec",
};

const figure = (f) => FIGURES[f] || String(f || "a figure").replace(/_/g, " ");
const sentence = (t) => (t && !/[.!?]$/.test(t) ? `${t}.` : t);
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * One event in plain words, e.g. "Publish refused: invalid_key × 3 from 203.0.113.7."
 * @param {{type: string, data?: any}} e an event envelope
 */
export function summarizeEvent(e) {
  const d = (e && e.data) || {};
  const s = d.stream || {};
  switch (e && e.type) {
    case "stream.created":
      return `Stream “${s.name || "?"}” created (auth mode ${s.auth_mode || "?"}).`;
    case "stream.updated": {
      const changed = Array.isArray(d.changed) ? d.changed : [];
      return changed.length ? `Settings changed: ${changed.join(", ")}.` : "Settings changed.";
    }
    case "stream.deleted":
      return "Stream deleted.";
    case "stream.enabled":
      return "Stream enabled: publishes are checked again.";
    case "stream.disabled":
      return "Stream disabled: publishes are refused.";
    case "stream.connected":
      return [
        d.resumed ? "The encoder came back; the session continues" : "Publish accepted",
        d.client_ip ? ` from ${d.client_ip}` : "",
        d.tls === undefined ? "" : ` over ${d.tls ? "RTMPS" : "RTMP"}`,
        d.key_id ? ` with the key sk_${d.key_id}…` : "",
        d.node_id ? ` on node ${d.node_id}` : "",
        ".",
      ].join("");
    case "stream.active":
      return d.hls_url ? `Live: HLS playback is ready at ${d.hls_url}` : "Live: HLS playback is ready.";
    case "stream.disconnected": {
      const why = d.reason ? ` (${d.reason})` : "";
      const wait = Number(d.reconnect_window_seconds) || 0;
      return wait > 0
        ? `The encoder dropped${why}; the session waits ${seconds(wait)} for it to come back.`
        : `The encoder disconnected${why}; the session ends with it.`;
    }
    case "stream.idle": {
      const sess = d.session || {};
      const why = sentence(explainEnd(d.end_reason)) || "No reason was recorded.";
      const took = sess.duration_seconds === undefined || sess.duration_seconds === null ? "" : ` It lasted ${seconds(sess.duration_seconds)}.`;
      return `Session ended${d.end_reason ? ` (${d.end_reason})` : ""}: ${why}${took}`;
    }
    case "stream.rejected": {
      const n = Number(d.count) || 1;
      return `Publish refused: ${d.reason_code || "?"}${n > 1 ? ` × ${n} in that minute` : ""}${d.client_ip ? ` from ${d.client_ip}` : ""}.${d.detail ? ` The encoder was told: “${d.detail}”` : ""}`;
    }
    case "stream.unhealthy":
      return `${figure(d.figure)} is outside the limit: measured ${d.measured ?? "?"}, limit ${d.configured ?? "?"}.`;
    case "stream.healthy":
      return `${figure(d.figure)} is back within the limit${d.measured ? ` (measured ${d.measured}, limit ${d.configured})` : ""}.`;
    case "stream.limits_violation":
      return `${d.action === "rejected" ? "Session closed" : "Warning"}: ${figure(d.limit)} measured ${d.measured ?? "?"}, limit ${d.configured ?? "?"}.${d.description ? ` ${d.description}` : ""}`;
    case "stream.key_rotated": {
      const older = Array.isArray(d.older_key_ids) ? d.older_key_ids.length : 0;
      const grace = Number(d.grace_seconds) || 0;
      return [
        `Key rotated: the new key is ${d.key && d.key.prefix ? `${d.key.prefix}…` : "?"}`,
        older ? `; ${plural(older, "older key")} ${grace > 0 ? `keep working for ${seconds(grace)}` : "stopped at once"}` : "",
        d.disconnect_active ? "; the live publisher was disconnected" : "",
        ".",
      ].join("");
    }
    case "stream.key_revoked":
      return `Key ${d.key_id ? `sk_${d.key_id}…` : "?"} revoked.`;
    case "recording.ready":
      return "Recording ready.";
    case "recording.failed":
      return `Recording failed${d.reason ? `: ${d.reason}` : ""}.`;
    case "webhook.disabled":
      return `Endpoint ${(d.webhook && d.webhook.url) || "?"} disabled${d.reason ? `: ${d.reason}` : ""}.`;
    case "webhook.test":
      return d.message || "Test event.";
    default:
      return e && e.type ? `${e.type}.` : "Unknown event.";
  }
}
