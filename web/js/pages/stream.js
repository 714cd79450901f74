// One stream: Overview (OBS's Server and Stream Key with copy buttons, an ffmpeg command, the live
// preview, health beside the limits, the bitrate chart, recent attempts), Keys & tokens (rotate
// with a grace choice, revoke, mint a publish token), Settings (name, enable, auth mode, IP
// allowlist, limits, session rules, delete), Attempts (every attempt explained), Sessions and
// Events (what webhooks receive about the stream, stream_events.js).
// The stream is polled every 2 s, so status, preview and health follow the encoder.

import {
  h, replace, append, poll, timeEl, badge, field, setFieldError, toast, announce, copyButton,
  fmtDuration, fmtBytes, fmtRelative, uid, stableRender,
} from "../dom.js";
import { get, post, patch, del, qs, ApiError } from "../api.js";
import {
  allowlistEditor, card, confirmDialog, copyField, emptyState, errorState, formError, mask, radio, showNotFound, shownOnce,
} from "../components.js";
import { explainAttempt, explainEnd, appOf } from "../explain.js";
import { parseCidr } from "../cidr.js";
import { createPlayer } from "../player.js";
import { drawBitrateChart } from "../chart.js";
import { freshKey, rememberKey } from "../secrets.js";
import { statusBadge } from "./streams.js";
import { eventsTab } from "./stream_events.js";

const STREAM_POLL_MS = 2000;
const ATTEMPTS_POLL_MS = 3000;
const TABS = [
  ["overview", "", "Overview"],
  ["keys", "/keys", "Keys & tokens"],
  ["settings", "/settings", "Settings"],
  ["attempts", "/attempts", "Attempts"],
  ["sessions", "/sessions", "Sessions"],
  ["events", "/events", "Events"],
];

export function streamPage(main, params, app) {
  const [id, tabParam] = params;
  const tab = tabParam || "overview";
  const state = { stream: null, listeners: new Set() };
  const head = h("div", { class: "page-head" });
  const status = h("div", { class: "stream-status", id: "stream-status", "aria-live": "polite" });
  const body = h("div", { class: "tab-body" });
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Stream sections" },
    h("ul", {}, TABS.map(([key, suffix, text]) =>
      h("li", {}, h("a", { href: `#/streams/${id}${suffix}`, "aria-current": key === tab ? "page" : null }, text)))),
  );
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/streams" }, "Streams"), " / ", h("span", { id: "crumb-name" }, "…")),
    head,
    status,
    tabs,
    body,
  );
  replace(head, h("h1", {}, "Loading…"));
  let view = null;
  let lastStatus = null;
  const ctx = {
    id,
    app,
    get stream() {
      return state.stream;
    },
    onStream(fn) {
      state.listeners.add(fn);
      if (state.stream) fn(state.stream);
    },
    async reload() {
      await loadStream();
    },
    setStream(s) {
      applyStream(s);
    },
  };

  const applyStream = (s) => {
    state.stream = s;
    const tabTitle = TABS.find((t) => t[0] === tab)[2];
    document.title = `${s.name} · ${tabTitle} · Inlet`;
    const h1 = head.querySelector("h1");
    if (h1.textContent !== s.name) h1.textContent = s.name;
    document.getElementById("crumb-name").textContent = s.name;
    const sess = s.active_session;
    const key = `${s.status}/${sess ? sess.state : ""}/${sess ? sess.id : ""}`;
    if (key !== lastStatus) {
      lastStatus = key;
      replace(
        status,
        statusBadge(s),
        " ",
        h("span", {}, s.status === "live" && sess
          ? sess.state === "reconnecting"
            ? ["The encoder dropped ", timeEl(sess.disconnected_at, "relative"), "; the session waits ", String(s.reconnect_window_seconds), " s for it to come back."]
            : ["Live since ", timeEl(sess.started_at, "clock"), "."]
          : s.status === "disabled"
            ? "Disabled: publishes are refused."
            : ["Not live.", s.last_live_at ? [" Last live ", timeEl(s.last_live_at, "relative"), "."] : " Never live yet."]),
      );
    }
    for (const fn of state.listeners) fn(s);
  };

  let notFound = false;
  const loadStream = async () => {
    if (notFound) return;
    try {
      applyStream(await get(`/v1/streams/${id}`));
    } catch (e) {
      if (e.status === 404) {
        notFound = true;
        showNotFound(head, body, "Stream not found", "This stream does not exist, was deleted, or belongs to another organization.", h("a", { href: "#/streams" }, "Back to the streams"));
        replace(status);
        tabs.hidden = true;
        return;
      }
      throw e;
    }
  };

  const views = { overview: overviewTab, keys: keysTab, settings: settingsTab, attempts: attemptsTab, sessions: sessionsTab, events: eventsTab };
  let started = false;
  const stopStream = poll(async () => {
    try {
      await loadStream();
      if (!started && state.stream) {
        started = true;
        try {
          view = views[tab](body, ctx);
        } catch (e) {
          // A bug, not a state of the API: show it, and leave it in the console for a report.
          console.error(e);
          replace(body, errorState(e));
        }
      }
    } catch (e) {
      if (!started) replace(body, errorState(e, () => loadStream()));
    }
  }, STREAM_POLL_MS);

  return () => {
    stopStream();
    state.listeners.clear();
    if (view && view.destroy) view.destroy();
  };
}

// ---------------------------------------------------------------------------------------------
// Overview

function currentProtocol() {
  return localStorage.getItem("inlet.protocol") === "rtmps" ? "rtmps" : "rtmp";
}

function ffmpegCommand(server, keyText) {
  return [
    "ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \\",
    "  -c:v libx264 -preset veryfast -g 60 -c:a aac \\",
    `  -f flv${server.startsWith("rtmps:") ? " -tls_verify 0" : ""} "${server}/${keyText}"`,
  ].join("\n");
}

function overviewTab(body, ctx) {
  const s0 = ctx.stream;
  let protocol = currentProtocol();
  let shown = false;

  // --- OBS's two fields
  const serverInput = h("input", { id: "obs-server", type: "text", readonly: true, spellcheck: "false", class: "mono" });
  const keyInput = h("input", { id: "obs-key", type: "text", readonly: true, spellcheck: "false", autocomplete: "off", class: "mono", "aria-describedby": "obs-key-note" });
  const keyButtons = h("span", { class: "btns" });
  const keyNote = h("p", { class: "hint", id: "obs-key-note" });
  const modeNote = h("p", { class: "hint" });
  const cmd = h("code", { id: "ffmpeg-command" });
  const cmdNote = h("p", { class: "hint" });
  const protoRadios = h(
    "fieldset",
    { class: "switch" },
    h("legend", {}, "Protocol"),
    ["rtmp", "rtmps"].map((p) =>
      h(
        "span",
        { class: "switch-option" },
        h("input", { type: "radio", name: "protocol", id: `proto-${p}`, value: p, checked: p === protocol }),
        h("label", { for: `proto-${p}` }, p === "rtmp" ? "RTMP" : "RTMPS (TLS)"),
      )),
  );
  protoRadios.addEventListener("change", (e) => {
    protocol = e.target.value;
    localStorage.setItem("inlet.protocol", protocol);
    renderConnect(ctx.stream);
    announce(`Server switched to ${protocol.toUpperCase()}`);
  });

  const serverCopy = copyButton("Server", () => serverInput.value, { class: "primary" });
  const keyCopy = copyButton("Stream Key", () => freshKey(ctx.id), { class: "primary" });
  const showBtn = h("button", { type: "button", class: "secondary", "aria-pressed": "false", "aria-controls": "obs-key" }, "Show");
  showBtn.addEventListener("click", () => {
    shown = !shown;
    renderConnect(ctx.stream);
  });
  const cmdCopy = copyButton("ffmpeg command", () => {
    const key = freshKey(ctx.id);
    return ffmpegCommand(serverInput.value, key || "$STREAM_KEY");
  });

  let connectSig = "";
  const renderConnect = (s) => {
    const sig = JSON.stringify([protocol, shown, s.ingest, s.auth_mode, freshKey(ctx.id)]);
    if (sig === connectSig) return;
    connectSig = sig;
    const server = s.ingest[protocol].server;
    serverInput.value = server;
    const key = freshKey(ctx.id);
    if (key) {
      keyInput.value = shown ? key : mask(key);
      showBtn.textContent = shown ? "Hide" : "Show";
      showBtn.setAttribute("aria-pressed", String(shown));
      showBtn.setAttribute("aria-label", shown ? "Hide Stream Key" : "Show Stream Key");
      replace(keyButtons, showBtn, keyCopy);
      replace(keyNote, h("strong", {}, "Shown in full only now, "), "right after the key was created or rotated: copy it into your encoder. After you leave this stream only its start is shown.");
    } else {
      const hint = s.ingest[protocol].stream_key_hint;
      keyInput.value = hint || "no working key";
      replace(keyButtons);
      replace(
        keyNote,
        hint
          ? ["Only the start of the key is shown: the full key was shown once, when it was created or rotated. Lost it? ", h("a", { href: `#/streams/${ctx.id}/keys` }, "Rotate the key"), " and use the new one."]
          : ["This stream has no working key. ", h("a", { href: `#/streams/${ctx.id}/keys` }, "Rotate"), " to create one."],
      );
    }
    const modes = {
      key: "",
      "key+token": "This stream also needs a publish token: the Stream Key field holds sk_…?token=<token> (mint one in Keys & tokens).",
      token: "This stream takes a publish token alone: put the token itself into the Stream Key field (mint one in Keys & tokens).",
    };
    modeNote.textContent = modes[s.auth_mode] || "";
    modeNote.hidden = !modes[s.auth_mode];
    cmd.textContent = ffmpegCommand(server, key ? (shown ? key : mask(key)) : "$STREAM_KEY");
    cmdNote.textContent = [
      key ? "" : "Replace $STREAM_KEY with the stream key (or set STREAM_KEY='sk_…' first).",
      protocol === "rtmps" ? "-tls_verify 0 accepts the self-signed development certificate; drop it with a real certificate." : "",
    ].filter(Boolean).join(" ");
  };

  const app = appOf(s0.ingest.rtmp.server) || "live";
  const connect = card(
    "Connect your encoder",
    h("p", { class: "obs-hint" }, "In OBS: Settings → Stream → Service: Custom, then paste these two fields."),
    protoRadios,
    h(
      "div",
      { class: "obs-grid" },
      h("div", { class: "field" }, h("label", { for: "obs-server" }, "Server"), h("div", { class: "copyrow" }, serverInput, h("span", { class: "btns" }, serverCopy)),
        h("p", { class: "hint" }, `Ends in /${app}. Put nothing else in it: the key goes in the next field.`)),
      h("div", { class: "field" }, h("label", { for: "obs-key" }, "Stream Key"), h("div", { class: "copyrow" }, keyInput, keyButtons), keyNote),
    ),
    modeNote,
    h(
      "p",
      { class: "hint obs-keyframes" },
      "For the quickest start of playback, set a 2 s keyframe interval: OBS → Settings → Output → Output Mode: Advanced → Streaming → Keyframe Interval: 2 s. ",
      "OBS's Simple mode sends a keyframe every 8 s or so: it is let in, with a warning in the session's health, and viewers wait longer for the first picture.",
    ),
    h("h3", {}, "Or test with ffmpeg"),
    h("div", { class: "cmd" }, h("pre", { tabindex: "0", "aria-label": "ffmpeg command" }, cmd), cmdCopy),
    cmdNote,
  );

  // --- live
  const player = createPlayer();
  const liveText = h("div", { class: "live-text" });
  const playback = h("div");
  const health = h("div", { class: "health" });
  const chartBox = h("figure", { class: "chart-box" });
  const liveGrid = h("div", { class: "live-grid" }, h("div", { class: "preview" }, player.el, playback), h("div", {}, h("h3", {}, "Health"), health));
  const live = card("Live", liveText, liveGrid, chartBox);

  // --- recent attempts
  const recent = h("div");
  const attemptsCard = card("Recent publish attempts", recent, h("p", {}, h("a", { href: `#/streams/${ctx.id}/attempts` }, "All attempts, explained")));

  append(body, connect, live, attemptsCard);

  let lastSession = null;
  let lastHealthAt = null;
  let hlsUrl = null;
  const renderLive = (s) => {
    const sess = s.active_session;
    const url = s.playback ? s.playback.hls_url : null;
    liveGrid.hidden = !sess;
    chartBox.hidden = !sess;
    if (!sess) {
      player.set(null);
      hlsUrl = null;
      replace(liveText, h("p", {}, s.status === "disabled"
        ? "The stream is disabled: publishes are refused until you enable it (Settings)."
        : "Not live. Start your encoder with the Server and Stream Key above: the preview, the measured health beside the limits and the bitrate chart appear here by themselves."));
      replace(playback);
      replace(health);
      replace(chartBox);
      lastSession = null;
      return;
    }
    replace(
      liveText,
      h("p", {}, sess.state === "reconnecting"
        ? ["The encoder dropped ", timeEl(sess.disconnected_at, "relative"), ". Viewers keep the same URL if it comes back within ", String(s.reconnect_window_seconds), " s."]
        : ["Publishing since ", timeEl(sess.started_at), ` on node ${sess.node_id}`, sess.reconnects ? `, ${sess.reconnects} reconnect${sess.reconnects === 1 ? "" : "s"}` : "", "."]),
    );
    if (url !== hlsUrl) {
      hlsUrl = url;
      player.set(url);
      replace(
        playback,
        url
          ? copyField("Playback URL (HLS)", url, { id: "playback-url", hint: "Hand this URL to your viewers' players." }).wrap
          : h("p", { class: "muted", role: "status" }, "Waiting for the first HLS segment: the preview starts about 2–3 s after the publish."),
      );
    }
    renderHealth(health, sess.health, s.limits);
    if (sess.id !== lastSession || (sess.health && sess.health.at !== lastHealthAt)) {
      lastSession = sess.id;
      lastHealthAt = sess.health ? sess.health.at : null;
      loadChart(ctx.id, sess.id, s.limits, chartBox);
    }
  };

  ctx.onStream((s) => {
    renderConnect(s);
    renderLive(s);
  });
  const stopAttempts = poll(() => renderAttempts(recent, ctx, 5), ATTEMPTS_POLL_MS);
  return {
    destroy() {
      stopAttempts();
      player.destroy();
    },
  };
}

async function loadChart(streamId, sessionId, limits, box) {
  try {
    const page = await get(`/v1/streams/${streamId}/sessions/${sessionId}/health`);
    drawBitrateChart(box, page.data, { limitKbps: limits.max_bitrate_kbps },
      h("figcaption", { class: "hint" }, `Bitrate of this session, as the ingest measured it (${page.data.length} point${page.data.length === 1 ? "" : "s"}); the dashed line is the stream's limit when it is in range.`));
  } catch (e) {
    replace(box, h("p", { class: "muted" }, `No bitrate chart: ${e.message}`));
  }
}

/** "✓ within" / "! over the limit"; narrow screens show the mark only (the words stay for screen readers). */
const verdict = (kind, mark, words) =>
  h("span", { class: `badge badge-${kind}` }, h("span", { "aria-hidden": "true" }, mark), h("span", { class: "v-word" }, ` ${words}`));

/** Measured values beside the configured limits. */
function renderHealth(box, hv, limits) {
  if (!hv) {
    replace(box, h("p", { class: "muted" }, "Waiting for the ingest's first measurement (every few seconds)."));
    return;
  }
  const rows = [];
  const row = (name, measured, limit, over) =>
    rows.push(h("tr", { class: over ? "over" : "" },
      h("th", { scope: "row" }, name),
      h("td", { "data-label": "Measured" }, measured),
      h("td", { "data-label": "Limit" }, limit),
      h("td", { class: "verdict" }, over === null ? "" : over ? verdict("over", "!", "over the limit") : verdict("ok", "✓", "within"))));
  row("Bitrate", `${hv.bitrate_kbps} kbit/s`, `${limits.max_bitrate_kbps} kbit/s`, hv.bitrate_kbps > limits.max_bitrate_kbps);
  row("Frame rate", `${Number(hv.fps).toFixed(1)} fps`, `${limits.max_fps} fps`, hv.fps > limits.max_fps + 0.5);
  row(
    "Resolution",
    hv.width && hv.height ? `${hv.width}×${hv.height}` : "—",
    `${limits.max_width}×${limits.max_height}`,
    hv.width && hv.height ? hv.width > limits.max_width || hv.height > limits.max_height : null,
  );
  row(
    "Keyframe interval",
    hv.keyframe_interval_ms ? `${(hv.keyframe_interval_ms / 1000).toFixed(1)} s` : "—",
    `${(limits.max_keyframe_interval_ms / 1000).toFixed(1)} s`,
    hv.keyframe_interval_ms ? hv.keyframe_interval_ms > limits.max_keyframe_interval_ms : null,
  );
  row("Video codec", hv.video_codec || "—", limits.video_codecs.join(", "), hv.video_codec ? !limits.video_codecs.includes(hv.video_codec) : null);
  row("Audio codec", hv.audio_codec || "—", limits.audio_codecs.join(", "), hv.audio_codec ? !limits.audio_codecs.includes(hv.audio_codec) : null);
  replace(
    box,
    h("table", { class: "table health-table", id: "health-table" },
      h("caption", { class: "visually-hidden" }, "Measured values beside the configured limits"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, "Measured"), h("th", { scope: "col" }, "Limit"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Verdict")))),
      h("tbody", {}, rows)),
    h("p", { class: "hint" }, "Measured ", timeEl(hv.at, "relative"), ` over the ingest's sliding window; ${fmtBytes(hv.bytes)} received; clock drift ${hv.skew_ms} ms. On a breach the stream's limits say: ${limits.on_violation === "reject" ? "close the session" : "keep it and record a warning"}.`),
  );
}

// ---------------------------------------------------------------------------------------------
// Attempts, explained

/** Everything explanations need besides the attempt: keys, audit log, who is who. */
async function explainContext(ctx, attempts) {
  const codes = new Set(attempts.map((a) => a.reason_code));
  const out = { stream: ctx.stream, me: ctx.app.me, keys: [], audit: [], apiTokens: [], tenantAllowlist: null };
  const jobs = [];
  if (codes.has("key_expired") || codes.has("key_revoked") || codes.has("invalid_key")) {
    jobs.push(get(`/v1/streams/${ctx.id}/keys`).then((r) => (out.keys = r.data)));
    jobs.push(get("/v1/audit-log?limit=100").then((r) => (out.audit = r.data)));
    jobs.push(get("/v1/api-tokens?limit=100").then((r) => (out.apiTokens = r.data)));
  }
  if (attempts.some((a) => a.reason_code === "ip_not_allowed" && /organization/i.test(a.detail))) {
    jobs.push(get("/v1/ip-allowlist").then((r) => (out.tenantAllowlist = r.ip_allowlist)));
  }
  await Promise.allSettled(jobs);
  return out;
}

function attemptItem(a, ectx) {
  const e = explainAttempt(a, ectx);
  const refused = a.result !== "accepted";
  return h(
    "li",
    { class: `attempt ${refused ? "refused" : "accepted"}`, dataset: { reason: a.reason_code || "accepted", attemptId: a.id } },
    h("div", { class: "attempt-head" },
      refused ? badge("refused", "Refused") : badge("accepted", "Accepted"),
      a.reason_code ? h("code", { class: "reason" }, a.reason_code) : null,
      h("span", { class: "muted small" }, timeEl(a.at), ` · from ${a.client_ip} · ${a.tls ? "RTMPS" : "RTMP"} · /${a.app}`)),
    h("p", { class: "attempt-summary" }, e.summary),
    e.fix ? h("p", { class: "attempt-fix" }, h("strong", {}, "Fix: "), e.fix) : null,
    refused && a.detail ? h("p", { class: "muted small" }, "Your encoder was told: “", a.detail, "”") : null,
  );
}

let explainCache = { key: "", ctx: null };

async function renderAttempts(box, ctx, limit, cursor = null, appendTo = null) {
  let page;
  try {
    page = await get(`/v1/streams/${ctx.id}/attempts${qs({ limit, cursor })}`);
  } catch (e) {
    replace(box, errorState(e));
    return null;
  }
  if (page.data.length === 0 && !appendTo) {
    replace(box, emptyState("No publish attempts yet. Each publish, accepted or refused, shows up here with what went wrong and how to fix it."));
    return page;
  }
  // Re-fetch the context only when new attempts arrived or the stream changed.
  const key = `${ctx.id}:${page.data.map((a) => a.id).join(",")}:${ctx.stream.ip_allowlist.join(",")}:${ctx.stream.ingest.rtmp.stream_key_hint}`;
  if (explainCache.key !== key) {
    explainCache = { key, ctx: await explainContext(ctx, page.data) };
  }
  const items = page.data.map((a) => attemptItem(a, explainCache.ctx));
  if (appendTo) {
    append(appendTo, items);
  } else {
    replace(box, h("ol", { class: "attempts", id: "attempts-list", "aria-label": "Publish attempts, newest first" }, items));
  }
  return page;
}

function attemptsTab(body, ctx) {
  const box = h("div");
  const more = h("div");
  let next = null;
  let extra = 0;
  const loadMore = async () => {
    const list = box.querySelector("ol");
    const page = await renderAttempts(box, ctx, 50, next, list);
    if (page) {
      next = page.next_cursor;
      extra += page.data.length;
      stableRender(more, String(!!next), () => (next ? h("button", { type: "button", class: "secondary", dataset: { fk: "more" }, onclick: loadMore }, "Load older attempts") : null));
    }
  };
  append(
    body,
    card(
      "Publish attempts",
      h("p", { class: "lead" }, "Every publish on this stream, newest first. A refused one says, in plain words, what the encoder got wrong and how to fix it."),
      box,
      more,
    ),
  );
  const stop = poll(async () => {
    if (extra > 0) return; // keep older pages the user loaded
    const page = await renderAttempts(box, ctx, 20);
    if (page) {
      next = page.next_cursor;
      stableRender(more, String(!!next), () => (next ? h("button", { type: "button", class: "secondary", dataset: { fk: "more" }, onclick: loadMore }, "Load older attempts") : null));
    }
  }, ATTEMPTS_POLL_MS);
  return { destroy: stop };
}

// ---------------------------------------------------------------------------------------------
// Keys & tokens

const keyStatusText = (k) => {
  switch (k.status) {
    case "active":
      return [badge("ok", "Active")];
    case "expiring":
      return [badge("warn", "Expiring"), " works until ", timeEl(k.expires_at, "clock"), ` (${fmtRelative(k.expires_at)})`];
    case "expired":
      return [badge("idle", "Expired"), " ", timeEl(k.expires_at, "relative")];
    case "revoked":
      return [badge("refused", "Revoked"), " ", timeEl(k.revoked_at, "relative")];
    default:
      return [k.status];
  }
};

function keysTab(body, ctx) {
  // --- rotate
  const custom = h("input", { id: "grace-custom", type: "number", min: 1, step: 1, value: 30, inputmode: "numeric", "aria-describedby": "grace-custom-err" });
  const unit = h("select", { id: "grace-unit", "aria-label": "Custom grace period unit" },
    h("option", { value: "60" }, "minutes"), h("option", { value: "3600" }, "hours"), h("option", { value: "86400" }, "days"));
  const customErr = h("p", { class: "field-error", id: "grace-custom-err", hidden: true });
  const grace = h(
    "fieldset",
    { class: "radios" },
    h("legend", {}, "Older keys stop working"),
    radio("grace", "0", "Now: no grace period", true, "An encoder that reconnects with an old key is refused at once."),
    radio("grace", "300", "In 5 minutes"),
    radio("grace", "3600", "In 1 hour"),
    h("div", { class: "radio" },
      h("input", { type: "radio", id: "grace-custom-radio", name: "grace", value: "custom" }),
      h("label", { for: "grace-custom-radio" }, "Custom"),
      h("span", { class: "inline-fields" }, h("label", { for: "grace-custom", class: "visually-hidden" }, "Custom grace period"), custom, unit),
      customErr),
  );
  custom.addEventListener("focus", () => {
    grace.querySelector("#grace-custom-radio").checked = true;
  });
  unit.addEventListener("change", () => {
    grace.querySelector("#grace-custom-radio").checked = true;
  });
  const disconnect = h("input", { type: "checkbox", id: "rotate-disconnect" });
  const rotateBtn = h("button", { type: "submit", class: "primary", id: "rotate-button" }, "Rotate key");
  const rotateErr = formError();
  const result = h("div", { id: "rotate-result", "aria-live": "polite" });
  const rotateForm = h(
    "form",
    { novalidate: true, class: "writes" },
    grace,
    h("div", { class: "check" }, disconnect, h("label", { for: "rotate-disconnect" }, "Disconnect the live publisher"),
      h("p", { class: "hint" }, "Cuts an encoder that is live now, whatever key it uses, within a few seconds. Without it, a live encoder keeps publishing until it reconnects.")),
    rotateErr.el,
    h("div", { class: "actions" }, rotateBtn),
  );
  const graceSeconds = () => {
    const v = rotateForm.querySelector("input[name=grace]:checked").value;
    if (v !== "custom") return Number(v);
    const n = Number(custom.value);
    const secs = Math.round(n * Number(unit.value));
    if (!Number.isFinite(n) || n <= 0 || secs > 604800) return null;
    return secs;
  };
  rotateForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    rotateErr.set(null);
    customErr.hidden = true;
    const g = graceSeconds();
    if (g === null) {
      customErr.textContent = "Enter a grace period above 0 and at most 7 days.";
      customErr.hidden = false;
      custom.setAttribute("aria-invalid", "true");
      custom.focus();
      return;
    }
    custom.removeAttribute("aria-invalid");
    rotateBtn.disabled = true;
    try {
      const r = await post(`/v1/streams/${ctx.id}/keys`, { grace_seconds: g, disconnect_active: disconnect.checked }, { idempotent: true });
      rememberKey(ctx.id, r.stream_key);
      replace(
        result,
        h("div", { class: "notice notice-ok" },
          h("p", {}, h("strong", {}, `New key ${r.key.prefix}… created. `),
            g === 0 ? "Older keys stopped working now." : `Older keys keep working for ${fmtDuration(g * 1000)}.`,
            disconnect.checked ? " The live publisher, if any, is being disconnected." : ""),
          shownOnce({ label: "New Stream Key", value: r.stream_key, id: "new-stream-key",
            note: "Shown in full only now (and on the Overview until you leave this stream): put it into your encoder's Stream Key field." })),
      );
      announce("Key rotated. The new key is shown once.");
      await Promise.all([loadKeys(), ctx.reload()]);
    } catch (ex) {
      rotateErr.set(ex.forField && ex.forField("grace_seconds") ? ex.forField("grace_seconds") : ex.message);
    } finally {
      rotateBtn.disabled = false;
    }
  });

  // --- keys
  const keysBox = h("div");
  const loadKeys = async () => {
    let keys;
    try {
      keys = (await get(`/v1/streams/${ctx.id}/keys`)).data;
    } catch (e) {
      replace(keysBox, errorState(e, loadKeys));
      return;
    }
    if (keys.length === 0) {
      replace(keysBox, emptyState("This stream has no keys."));
      return;
    }
    stableRender(keysBox, JSON.stringify([keys, Math.floor(Date.now() / 30000)]), () =>
      h("table", { class: "table stacked", id: "keys-table" },
        h("caption", { class: "visually-hidden" }, "Stream keys, newest first"),
        h("thead", {}, h("tr", {}, ["Key", "Status", "Created", "Last used", ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, keys.map((k) =>
          h("tr", {},
            h("td", { "data-label": "Key" }, h("code", {}, `${k.prefix}…`)),
            h("td", { "data-label": "Status" }, keyStatusText(k)),
            h("td", { "data-label": "Created" }, timeEl(k.created_at)),
            h("td", { "data-label": "Last used" }, timeEl(k.last_used_at, "relative")),
            h("td", { "data-label": "" }, k.status === "revoked" || k.status === "expired"
              ? ""
              : h("button", { type: "button", class: "danger small writes", "aria-label": `Revoke ${k.prefix}`, dataset: { fk: `revoke-${k.id}` }, onclick: () => revoke(k) }, "Revoke")))))),
    );
  };
  const revoke = async (k) => {
    const ok = await confirmDialog({
      title: `Revoke ${k.prefix}…?`,
      body: "Publishes with this key are refused from now on, and an encoder live on it is cut within a few seconds. This cannot be undone." +
        (k.status === "active" ? " It is the current key: rotate afterwards to get a new one." : ""),
      confirmLabel: "Revoke key",
      danger: true,
    });
    if (!ok) return;
    try {
      await del(`/v1/streams/${ctx.id}/keys/${k.id}`);
      toast(`Key ${k.prefix}… revoked.`);
      await Promise.all([loadKeys(), ctx.reload()]);
    } catch (e) {
      toast(`Not revoked: ${e.message}`, "error");
    }
  };

  // --- publish token
  const ttl = h("select", { id: "token-ttl" },
    h("option", { value: "600" }, "10 minutes"), h("option", { value: "3600" }, "1 hour"),
    h("option", { value: "86400" }, "1 day"), h("option", { value: "604800" }, "7 days"));
  const ipField = field("Bind to address (optional)", h("input", { id: "token-ip", type: "text", autocomplete: "off", spellcheck: "false", class: "mono", placeholder: "198.51.100.0/24" }),
    "Only an encoder whose address is inside this IPv4/IPv6 address or CIDR may use the token.");
  ipField.input.addEventListener("input", () => {
    const v = ipField.input.value.trim();
    const r = v ? parseCidr(v) : { ok: true, warnings: [] };
    setFieldError(ipField, r.ok ? null : r.error);
    if (r.ok && v) ipField.hint.textContent = `Saved as ${r.normalized}${r.warnings.length ? ` (${r.warnings.join("; ")})` : ""}.`;
  });
  const single = h("input", { type: "checkbox", id: "token-single" });
  const mintBtn = h("button", { type: "submit", class: "primary" }, "Mint publish token");
  const mintErr = formError();
  const minted = h("div", { "aria-live": "polite" });
  const modeHint = h("p", { class: "hint" });
  const tokenForm = h(
    "form",
    { novalidate: true, class: "writes" },
    modeHint,
    h("div", { class: "field" }, h("label", { for: "token-ttl" }, "Valid for"), ttl),
    ipField.wrap,
    h("div", { class: "check" }, single, h("label", { for: "token-single" }, "Single use"),
      h("p", { class: "hint" }, "Admits one accepted publish. An encoder that reconnects by itself reuses its token, so leave this off for those.")),
    mintErr.el,
    h("div", { class: "actions" }, mintBtn),
    minted,
  );
  tokenForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    mintErr.set(null);
    const ip = ipField.input.value.trim();
    if (ip && !parseCidr(ip).ok) {
      ipField.input.focus();
      return;
    }
    mintBtn.disabled = true;
    try {
      const body = { ttl_seconds: Number(ttl.value), single_use: single.checked };
      if (ip) body.ip = ip;
      const t = await post(`/v1/streams/${ctx.id}/publish-tokens`, body, { idempotent: true });
      const s = ctx.stream;
      const key = freshKey(ctx.id);
      replace(
        minted,
        h("div", { class: "notice notice-ok" },
          h("p", {}, "Token minted; it expires ", timeEl(t.expires_at), "."),
          shownOnce({ label: "Publish token", value: t.token, id: "publish-token", note: "Shown only this once. There is no way to revoke a single token: keep lifetimes short." }),
          s.auth_mode === "key+token"
            ? h("p", {}, "Stream Key field: ", h("code", {}, "sk_…?token=<this token>"), ".",
                key ? [" ", copyButton("Stream Key with token", () => `${key}?token=${t.token}`, { label: "Copy key?token=…" })] : "")
            : s.auth_mode === "token"
              ? h("p", {}, "Stream Key field: the token itself.")
              : h("p", { class: "warn-text" }, "This stream's auth mode is “key”: tokens are ignored until you switch to “token” or “key+token” in Settings.")),
      );
    } catch (ex) {
      const f = ex.forField ? ex.forField("ip") || ex.forField("ttl_seconds") : "";
      mintErr.set(f || ex.message);
    } finally {
      mintBtn.disabled = false;
    }
  });
  ctx.onStream((s) => {
    modeHint.textContent = {
      key: "Auth mode “key”: tokens are not needed (and ignored). Switch the auth mode in Settings to require them.",
      "key+token": "Auth mode “key+token”: encoders send sk_…?token=<token> as the Stream Key.",
      token: "Auth mode “token”: encoders send the token as the Stream Key.",
    }[s.auth_mode];
  });

  append(
    body,
    card("Rotate the stream key", h("p", { class: "lead" }, "Rotation creates a new key, shown once. Choose how long the older keys keep working, so encoders can be switched without a gap."), rotateForm, result),
    card("Stream keys", keysBox),
    card("Publish tokens", h("p", { class: "lead" }, "Short-lived signed tokens (JWT) for one stream. Your backend can also mint them offline with a signing key."), tokenForm),
  );
  const stop = poll(loadKeys, 5000);
  return { destroy: stop };
}

// ---------------------------------------------------------------------------------------------
// Settings

function settingsTab(body, ctx) {
  const s = ctx.stream;

  // --- name and enabled
  const name = field("Name", h("input", { id: "stream-name", type: "text", maxlength: 100, autocomplete: "off", value: s.name }));
  const nameSave = h("button", { type: "submit", class: "primary writes" }, "Save name");
  const nameForm = h("form", { novalidate: true }, name.wrap, h("div", { class: "actions" }, nameSave));
  nameForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setFieldError(name, null);
    try {
      ctx.setStream(await patch(`/v1/streams/${ctx.id}`, { name: name.input.value.trim() }));
      toast("Name saved.");
    } catch (ex) {
      setFieldError(name, ex.forField ? ex.forField("name") || ex.message : ex.message);
      name.input.focus();
    }
  });
  const enableBox = h("div", { class: "enable" });
  const renderEnable = (st) => {
    stableRender(enableBox, String(st.enabled), () => [
      h("p", {}, st.enabled ? "Enabled: publishes are checked as usual." : "Disabled: every publish is refused with stream_disabled."),
      h("button", {
        type: "button",
        class: st.enabled ? "danger writes" : "primary writes",
        dataset: { fk: "enable-toggle" },
        onclick: async () => {
          if (st.enabled) {
            const ok = await confirmDialog({ title: "Disable this stream?", body: "Publishes are refused, and a live encoder is cut within a few seconds.", confirmLabel: "Disable", danger: true });
            if (!ok) return;
          }
          try {
            ctx.setStream(await post(`/v1/streams/${ctx.id}/${st.enabled ? "disable" : "enable"}`));
            toast(st.enabled ? "Stream disabled." : "Stream enabled.");
          } catch (ex) {
            toast(ex.message, "error");
          }
        },
      }, st.enabled ? "Disable stream" : "Enable stream"),
    ]);
  };
  ctx.onStream(renderEnable);

  // --- auth mode
  const modes = [
    ["key", "Stream key", "The stream key alone. What OBS and most encoders use."],
    ["key+token", "Stream key and publish token", "The key, plus a short-lived token: sk_…?token=<token>. A leaked key alone is not enough."],
    ["token", "Publish token only", "A token alone, minted by your backend (signing keys) or here. Suits encoders you hand out per event."],
  ];
  const authSave = h("button", { type: "submit", class: "primary writes" }, "Save auth mode");
  const authForm = h(
    "form",
    { novalidate: true },
    h("fieldset", { class: "radios" }, h("legend", {}, "Auth mode"),
      modes.map(([v, label, hint]) => radio("auth-mode", v, label, s.auth_mode === v, hint))),
    h("div", { class: "actions" }, authSave),
  );
  authForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = authForm.querySelector("input[name=auth-mode]:checked").value;
    try {
      ctx.setStream(await patch(`/v1/streams/${ctx.id}`, { auth_mode: v }));
      toast(`Auth mode is now “${v}”.`);
    } catch (ex) {
      toast(ex.message, "error");
    }
  });

  // --- allowlist
  const tenantNote = h("p", { class: "hint" });
  get("/v1/ip-allowlist")
    .then((r) => {
      replace(
        tenantNote,
        "Your organization's list ",
        h("a", { href: "#/account" }, "(Account)"),
        r.ip_allowlist.length ? [": ", r.ip_allowlist.join(", "), ". An address must match both lists."] : " is empty: it admits every address.",
      );
    })
    .catch(() => {});
  const allow = allowlistEditor({
    label: "Addresses allowed to publish to this stream",
    initial: s.ip_allowlist,
    scope: "The encoder's address must match an entry of this list and of your organization's list.",
    onSave: async (list) => {
      const st = await patch(`/v1/streams/${ctx.id}`, { ip_allowlist: list });
      ctx.setStream(st);
      return st.ip_allowlist;
    },
  });

  // --- limits
  const l = s.limits;
  const num = (key, label, unitText, max, hint) =>
    field(`${label} (${unitText})`, h("input", { id: `limit-${key}`, type: "number", min: 1, max, step: 1, inputmode: "numeric", value: l[key] }), hint);
  const fBitrate = num("max_bitrate_kbps", "Maximum bitrate", "kbit/s", 1000000, "Audio and video together, over the ingest's sliding window.");
  const fKey = num("max_keyframe_interval_ms", "Maximum keyframe interval", "ms", 600000, "HLS segments are cut at keyframes: 2000 ms (a 2 s GOP) is ideal.");
  const fW = num("max_width", "Maximum width", "px", 16384);
  const fH = num("max_height", "Maximum height", "px", 16384);
  const fFps = num("max_fps", "Maximum frame rate", "fps", 1000);
  const codecBoxes = (kind, all, chosen) =>
    h("fieldset", { class: "checks" }, h("legend", {}, kind === "video" ? "Video codecs allowed" : "Audio codecs allowed"),
      all.map((c) => h("span", { class: "check-inline" },
        h("input", { type: "checkbox", id: `codec-${kind}-${c}`, name: `${kind}_codecs`, value: c, checked: chosen.includes(c) }),
        h("label", { for: `codec-${kind}-${c}` }, c))));
  const onViolation = h("fieldset", { class: "radios" }, h("legend", {}, "When the feed breaks a limit"),
    radio("on-violation", "reject", "Reject: close the session and tell the encoder which limit", l.on_violation === "reject"),
    radio("on-violation", "flag", "Flag: keep the session, record a warning", l.on_violation === "flag"));
  const limitsErr = formError();
  const limitsForm = h(
    "form",
    { novalidate: true, class: "limits" },
    h("div", { class: "grid-2" }, fBitrate.wrap, fKey.wrap, fW.wrap, fH.wrap, fFps.wrap),
    codecBoxes("video", ["h264", "hevc", "av1"], l.video_codecs),
    codecBoxes("audio", ["aac", "mp3", "opus"], l.audio_codecs),
    h("p", { class: "hint" }, "Only H.264 video and AAC audio are packaged as HLS; other codecs can be allowed but do not play in the preview."),
    onViolation,
    limitsErr.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary writes" }, "Save limits")),
  );
  const numFields = { max_bitrate_kbps: fBitrate, max_keyframe_interval_ms: fKey, max_width: fW, max_height: fH, max_fps: fFps };
  limitsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    limitsErr.set(null);
    const limits = {};
    let bad = null;
    for (const [key, f] of Object.entries(numFields)) {
      setFieldError(f, null);
      const v = Number(f.input.value);
      const max = Number(f.input.max);
      if (!Number.isInteger(v) || v < 1 || v > max) {
        setFieldError(f, `A whole number from 1 to ${max}.`);
        bad = bad || f.input;
      } else limits[key] = v;
    }
    for (const kind of ["video", "audio"]) {
      const chosen = [...limitsForm.querySelectorAll(`input[name=${kind}_codecs]:checked`)].map((x) => x.value);
      if (chosen.length === 0) {
        limitsErr.set(`Allow at least one ${kind} codec.`);
        bad = bad || limitsForm.querySelector(`input[name=${kind}_codecs]`);
      }
      limits[`${kind}_codecs`] = chosen;
    }
    limits.on_violation = limitsForm.querySelector("input[name=on-violation]:checked").value;
    if (bad) {
      bad.focus();
      return;
    }
    try {
      ctx.setStream(await patch(`/v1/streams/${ctx.id}`, { limits }));
      toast("Limits saved. They apply to the next publish.");
    } catch (ex) {
      if (ex instanceof ApiError) {
        for (const fe of ex.fieldErrors) {
          const key = fe.field.replace(/^limits\./, "");
          if (numFields[key]) setFieldError(numFields[key], fe.detail);
        }
      }
      limitsErr.set(ex.message);
    }
  });

  // --- session rules
  const fReconnect = field("Reconnect window (seconds)", h("input", { id: "reconnect-window", type: "number", min: 0, max: 3600, step: 1, inputmode: "numeric", value: s.reconnect_window_seconds }),
    "An encoder that drops and comes back within this window continues the same session and playlist, so viewers are not dropped. 0–3600.");
  const fMax = field("Maximum continuous duration (seconds)", h("input", { id: "max-duration", type: "number", min: 60, max: 604800, step: 1, inputmode: "numeric", value: s.max_continuous_duration_seconds }),
    `A session that runs longer is ended. 60–604800 (now ${fmtDuration(s.max_continuous_duration_seconds * 1000)}).`);
  const takeover = h("input", { type: "checkbox", id: "takeover", checked: s.takeover });
  const rulesErr = formError();
  const rulesForm = h(
    "form",
    { novalidate: true },
    h("div", { class: "grid-2" }, fReconnect.wrap, fMax.wrap),
    h("div", { class: "check" }, takeover, h("label", { for: "takeover" }, "Takeover"),
      h("p", { class: "hint" }, "A new publish with the same key replaces a live one (for an encoder whose old connection hangs). Off: it is refused with already_live.")),
    rulesErr.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary writes" }, "Save session rules")),
  );
  rulesForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    rulesErr.set(null);
    const rw = Number(fReconnect.input.value);
    const md = Number(fMax.input.value);
    setFieldError(fReconnect, Number.isInteger(rw) && rw >= 0 && rw <= 3600 ? null : "A whole number from 0 to 3600.");
    setFieldError(fMax, Number.isInteger(md) && md >= 60 && md <= 604800 ? null : "A whole number from 60 to 604800.");
    if (fReconnect.input.hasAttribute("aria-invalid") || fMax.input.hasAttribute("aria-invalid")) return;
    try {
      ctx.setStream(await patch(`/v1/streams/${ctx.id}`, { reconnect_window_seconds: rw, max_continuous_duration_seconds: md, takeover: takeover.checked }));
      toast("Session rules saved.");
    } catch (ex) {
      rulesErr.set(ex.message);
    }
  });

  // --- delete
  const delBtn = h("button", { type: "button", class: "danger writes" }, "Delete stream");
  delBtn.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Delete “${ctx.stream.name}”?`,
      body: "The stream, its keys and its attempts are deleted, and a live encoder is cut. This cannot be undone.",
      confirmLabel: "Delete stream",
      danger: true,
    });
    if (!ok) return;
    try {
      await del(`/v1/streams/${ctx.id}`);
      toast("Stream deleted.");
      ctx.app.navigate("#/streams");
    } catch (ex) {
      toast(ex.message, "error");
    }
  });

  append(
    body,
    card("Stream", nameForm, enableBox),
    card("Auth mode", authForm),
    card("IP allowlist", allow, tenantNote),
    card("Limits", h("p", { class: "lead" }, "What the ingest enforces on every publish; measured values are on the Overview while live."), limitsForm),
    card("Sessions", rulesForm),
    card("Delete", h("p", {}, "Deleting removes the stream and its keys for good."), delBtn),
  );
  return null;
}

// ---------------------------------------------------------------------------------------------
// Sessions

function sessionsTab(body, ctx) {
  const box = h("div");
  const charts = new Map();
  append(body, card("Publish sessions", h("p", { class: "lead" }, "Each accepted publish, newest first, with what the ingest measured."), box));
  const render = async () => {
    let page;
    try {
      page = await get(`/v1/streams/${ctx.id}/sessions?limit=20`);
    } catch (e) {
      replace(box, errorState(e, render));
      return;
    }
    if (page.data.length === 0) {
      replace(box, emptyState("No sessions yet: they appear when a publish is accepted."));
      return;
    }
    const limits = ctx.stream.limits;
    stableRender(box, JSON.stringify([page.data, limits]), () =>
      h("ol", { class: "sessions", id: "sessions-list" }, page.data.map((s) => {
        const dur = (s.ended_at ? new Date(s.ended_at) : new Date()) - new Date(s.started_at);
        const chartId = uid("chart");
        const chartBox = h("figure", { class: "chart-box", id: chartId, hidden: !charts.has(s.id) });
        const toggle = h("button", { type: "button", class: "secondary small", dataset: { fk: `chart-${s.id}` }, "aria-expanded": String(charts.has(s.id)), "aria-controls": chartId }, charts.has(s.id) ? "Hide bitrate chart" : "Show bitrate chart");
        toggle.addEventListener("click", () => {
          if (charts.has(s.id)) {
            charts.delete(s.id);
            chartBox.hidden = true;
            toggle.textContent = "Show bitrate chart";
            toggle.setAttribute("aria-expanded", "false");
          } else {
            charts.set(s.id, true);
            chartBox.hidden = false;
            toggle.textContent = "Hide bitrate chart";
            toggle.setAttribute("aria-expanded", "true");
            loadChart(ctx.id, s.id, limits, chartBox);
          }
        });
        if (charts.has(s.id)) loadChart(ctx.id, s.id, limits, chartBox);
        const stateBadge = s.state === "live" ? badge("live", "Live") : s.state === "reconnecting" ? badge("reconnecting", "Reconnecting") : badge("idle", "Ended");
        return h(
          "li",
          { class: "session" },
          h("div", { class: "attempt-head" }, stateBadge, h("span", {}, timeEl(s.started_at)), h("span", { class: "muted small" }, ` · ${fmtDuration(dur)} · node ${s.node_id}${s.key_id ? ` · key sk_${s.key_id}…` : ""}`)),
          s.end_reason ? h("p", {}, explainEnd(s.end_reason), h("span", { class: "muted small" }, ` (${s.end_reason})`)) : null,
          h("dl", { class: "facts" },
            fact("Bitrate", s.avg_bitrate_kbps !== null ? `${s.avg_bitrate_kbps} kbit/s average, ${s.peak_bitrate_kbps} kbit/s peak` : "—"),
            fact("Resolution", s.width ? `${s.width}×${s.height}` : "—"),
            fact("Frame rate", s.fps !== null ? `${Number(s.fps).toFixed(1)} fps` : "—"),
            fact("Keyframe interval", s.keyframe_interval_ms ? `${(s.keyframe_interval_ms / 1000).toFixed(1)} s` : "—"),
            fact("Codecs", [s.video_codec, s.audio_codec].filter(Boolean).join(" + ") || "—"),
            fact("Start-up", s.time_to_hls_ready_ms !== null ? `HLS ready after ${(s.time_to_hls_ready_ms / 1000).toFixed(1)} s` : "—"),
            fact("Received", fmtBytes(s.bytes)),
            fact("Reconnects", String(s.reconnects))),
          s.warnings.length
            ? h("ul", { class: "warnings" }, s.warnings.map((w) => h("li", {}, badge(w.action === "rejected" ? "refused" : "warn", w.action), ` ${w.limit}: measured ${w.measured}, limit ${w.configured}. `, w.description)))
            : null,
          toggle,
          chartBox,
        );
      })),
    );
  };
  const stop = poll(render, 5000);
  return { destroy: stop };
}

const fact = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
