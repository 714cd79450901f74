// Webhooks: the endpoints Inlet POSTs the organization's events to, signed (docs/webhooks.md).
// The list and the form that adds one; an endpoint's own page shows its signing secret once (right
// after it was created or rotated), sends a test event and shows the receiver's answer, lists the
// delivery attempts with a redeliver for each, rotates the secret with a grace, turns deliveries
// off and on, edits the filters and deletes the endpoint.

import { h, replace, append, poll, timeEl, badge, field, toast, announce, stableRender } from "../dom.js";
import { get, post, patch, all, qs, ApiError } from "../api.js";
import {
  card, checkbox, confirmDialog, confirmRevoke, dataTable, emptyState, errorState, fieldGroup, formError, listLoader,
  radio, showFieldErrors, showNotFound, shownOnce,
} from "../components.js";
import { EVENT_TYPES } from "../events.js";
import { freshKey, rememberKey } from "../secrets.js";

const LIST_POLL_MS = 10000;
const PAGE_POLL_MS = 4000;
const DELIVERIES_PAGE = 25;

const ORDERING = {
  none: "In parallel",
  per_stream: "In order, per stream",
};

/** The organization's streams by id (names for the filters), loaded once per page. */
const loadStreams = () => all("/v1/streams", 1000).catch(() => []);

function streamNames(ids, streams) {
  if (!ids) return "All streams";
  const byId = new Map(streams.map((s) => [s.id, s.name]));
  return ids.map((id, i) => [i ? ", " : "", h("a", { href: `#/streams/${id}` }, byId.get(id) || `stream ${id.slice(0, 8)}…`)]);
}

const eventList = (types) => (types ? types.map((t) => h("code", { class: "chip" }, t)) : "All events");

function statusOf(w) {
  if (!w.enabled) {
    return [badge("disabled", "Disabled"), w.disabled_reason ? h("span", { class: "muted small" }, ` ${w.disabled_reason}`) : null];
  }
  if (w.failing_since) {
    return [badge("warn", "Failing"), h("span", { class: "muted small" }, " every attempt failed since ", timeEl(w.failing_since, "relative"))];
  }
  return badge("ok", "Enabled");
}

/**
 * The endpoint's settings as a form: URL, description, event types (all, or chosen), streams (all,
 * or chosen among the organization's), ordering. `o.initial` (a webhook) prefills it; `o.send(body)`
 * sends it; the API's field errors are shown beside the fields.
 */
function endpointForm(o) {
  const w = o.initial || { url: "", description: "", events: null, stream_ids: null, ordering: "none" };
  const url = field("Endpoint URL",
    h("input", { id: "webhook-url", type: "url", inputmode: "url", autocomplete: "off", spellcheck: "false", class: "mono", placeholder: "https://example.com/inlet-events", value: w.url }),
    "Inlet POSTs each event here as JSON. It must be https:// (the operator can allow http:// and private addresses).");
  const description = field("Description (optional)",
    h("input", { id: "webhook-description", type: "text", maxlength: 500, autocomplete: "off", value: w.description }),
    "For you: what receives these events.");

  const typeBoxes = h("div", { class: "check-grid", id: "webhook-event-types" },
    EVENT_TYPES.map(([t, what]) => checkbox(`event-${t.replace(/\./g, "-")}`, "webhook-event", t, h("code", {}, t), !!(w.events && w.events.includes(t)), what)));
  const events = fieldGroup("Events to deliver",
    radio("webhook-events", "all", "All events, including types added later", w.events === null),
    radio("webhook-events", "chosen", "Only the types chosen here", w.events !== null),
    typeBoxes);

  const streamBoxes = h("div", { class: "check-grid scroll-box", id: "webhook-streams" }, h("p", { class: "muted" }, "Loading your streams…"));
  const streams = fieldGroup("Streams",
    radio("webhook-streams", "all", "All streams, including streams created later", w.stream_ids === null,
      "Events of no stream (webhook.disabled) go only to endpoints that take all streams."),
    radio("webhook-streams", "chosen", "Only the streams chosen here", w.stream_ids !== null),
    streamBoxes);
  o.streams.then((list) => {
    const known = new Set(list.map((s) => s.id));
    const gone = (w.stream_ids || []).filter((id) => !known.has(id)).map((id) => ({ id, name: `stream ${id.slice(0, 8)}… (deleted?)` }));
    const chosen = new Set(w.stream_ids || []);
    replace(streamBoxes, list.length + gone.length === 0
      ? h("p", { class: "muted" }, "You have no streams yet.")
      : list.concat(gone).map((s) => checkbox(`stream-pick-${s.id}`, "webhook-stream", s.id, s.name, chosen.has(s.id))));
  });

  const ordering = fieldGroup("Ordering",
    radio("webhook-ordering", "none", ORDERING.none, w.ordering !== "per_stream", "Deliveries run at the same time; receivers order each stream's events by their sequence."),
    radio("webhook-ordering", "per_stream", ORDERING.per_stream, w.ordering === "per_stream", "Each stream's events arrive in sequence order: the next waits until the one before is delivered or given up."));

  const err = formError();
  const submit = h("button", { type: "submit", class: "primary writes" }, o.submitLabel);
  const form = h("form", { novalidate: true, class: "webhook-form" },
    url.wrap, description.wrap, events.wrap, streams.wrap, ordering.wrap, err.el, h("div", { class: "actions" }, submit));
  const chosen = (name) => form.querySelector(`input[name=${name}]:checked`).value === "chosen";
  const sync = () => {
    typeBoxes.hidden = !chosen("webhook-events");
    streamBoxes.hidden = !chosen("webhook-streams");
  };
  form.addEventListener("change", sync);
  sync();

  const fields = { url, description, events, stream_ids: streams, ordering };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showFieldErrors(null, fields, err);
    const values = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((x) => x.value);
    const body = {
      url: url.input.value.trim(),
      description: description.input.value.trim(),
      events: chosen("webhook-events") ? values("webhook-event") : null,
      stream_ids: chosen("webhook-streams") ? values("webhook-stream") : null,
      ordering: form.querySelector("input[name=webhook-ordering]:checked").value,
    };
    const local = [];
    if (!body.url) local.push({ field: "url", detail: "enter the URL that receives the events" });
    if (body.events && body.events.length === 0) local.push({ field: "events", detail: "choose at least one event type, or all events" });
    if (body.stream_ids && body.stream_ids.length === 0) local.push({ field: "stream_ids", detail: "choose at least one stream, or all streams" });
    if (local.length) {
      const first = showFieldErrors(new ApiError(422, { detail: "Check the fields.", errors: local }), fields, err);
      if (first) first.focus();
      return;
    }
    submit.disabled = true;
    try {
      await o.send(body);
    } catch (ex) {
      const first = showFieldErrors(ex, fields, err);
      if (first) first.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function webhooksPage(main, _params, app) {
  document.title = "Webhooks · Inlet";
  const streams = loadStreams();
  const listBox = h("div");
  const form = endpointForm({
    streams,
    submitLabel: "Add endpoint",
    send: async (body) => {
      const made = await post("/v1/webhooks", body, { idempotent: true });
      rememberKey(made.webhook.id, made.secret);
      app.navigate(`#/webhooks/${made.webhook.id}`);
    },
  });
  let names = [];
  const load = listLoader(listBox, "/v1/webhooks?limit=100",
    "No endpoints yet. Add one to receive your streams' events (live, ended, refused…) as they happen.",
    (hooks) => dataTable({
      id: "webhooks-table",
      caption: "Webhook endpoints, newest first",
      columns: ["Endpoint", "Events", "Streams", "Ordering", "Status"],
      rows: hooks.map((w) => ({
        attrs: { dataset: { webhookId: w.id } },
        cells: [
          [h("a", { href: `#/webhooks/${w.id}`, class: "mono url", dataset: { fk: `w-${w.id}` } }, w.url), w.description ? h("p", { class: "muted small" }, w.description) : null],
          eventList(w.events),
          streamNames(w.stream_ids, names),
          ORDERING[w.ordering] || w.ordering,
          statusOf(w),
        ],
      })),
    }));

  main.append(
    h("h1", {}, "Webhooks"),
    h("p", { class: "lead" }, "Inlet POSTs your events to these endpoints as they happen: a stream goes live, ends, refuses a publish. Each request is signed with the endpoint's secret (",
      h("code", {}, "webhook-signature"), ", Standard Webhooks, and ", h("code", {}, "Inlet-Signature"), "), failed deliveries are retried, and ",
      h("code", {}, "GET /v1/events"), " replays what you missed."),
    card("Add an endpoint", form),
    card("Endpoints", listBox),
  );
  replace(listBox, h("p", { class: "muted" }, "Loading…"));
  // The list names the streams of the filters: it starts once their names are known.
  let stopped = false;
  let stop = null;
  streams.then((list) => {
    names = list;
    if (!stopped) stop = poll(load, LIST_POLL_MS);
  });
  return () => {
    stopped = true;
    if (stop) stop();
  };
}

// ---------------------------------------------------------------------------------------------
// One endpoint

export function webhookPage(main, params, app) {
  const [id] = params;
  document.title = "Webhook · Inlet";
  const streams = loadStreams();
  const head = h("div", { class: "page-head" }, h("h1", {}, "Loading…"));
  const status = h("div", { class: "stream-status", id: "webhook-status", "aria-live": "polite" });
  const body = h("div");
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/webhooks" }, "Webhooks"), " / ", h("span", { id: "crumb-name" }, "…")),
    head,
    status,
    body,
  );
  let built = null;
  let gone = false;

  const apply = (w) => {
    document.title = `${w.url} · Webhook · Inlet`;
    head.querySelector("h1").textContent = w.url;
    document.getElementById("crumb-name").textContent = w.url;
    stableRender(status, JSON.stringify([w.enabled, w.disabled_reason, w.failing_since]), () => statusOf(w));
    if (built) built.update(w);
  };

  const load = async () => {
    if (gone) return;
    let w;
    try {
      w = await get(`/v1/webhooks/${id}`);
    } catch (e) {
      gone = e.status === 404;
      if (gone) {
        showNotFound(head, body, "Endpoint not found", "This endpoint does not exist, was deleted, or belongs to another organization.", h("a", { href: "#/webhooks" }, "Back to the webhooks"));
        replace(status);
      } else if (!built) replace(body, errorState(e, load));
      return;
    }
    apply(w);
    built = built || buildEndpoint(body, id, w, { app, streams, apply });
    await built.refresh();
  };
  const stop = poll(load, PAGE_POLL_MS);
  return stop;
}

function buildEndpoint(body, id, initial, ctx) {
  // --- the secret shown once, right after the endpoint was created
  const fresh = freshKey(id);
  const created = h("div", { "aria-live": "polite" },
    fresh
      ? h("div", { class: "notice notice-ok", id: "webhook-created" },
          h("p", {}, h("strong", {}, "Endpoint added."), " Put its signing secret into your receiver to verify each request, then send a test event."),
          shownOnce({ label: "Signing secret", value: fresh, id: "webhook-secret", note: secretNote }))
      : null);

  // --- facts and the enable / delete buttons
  let hook = initial;
  const facts = h("dl", { class: "facts", id: "webhook-facts" });
  const toggle = h("div", { class: "actions" });
  const names = { list: [] };
  const renderFacts = (w) => {
    stableRender(facts, JSON.stringify([w, names.list.length]), () => [
      fact("URL", h("code", {}, w.url)),
      fact("Description", w.description || "—"),
      fact("Events", eventList(w.events)),
      fact("Streams", streamNames(w.stream_ids, names.list)),
      fact("Ordering", ORDERING[w.ordering] || w.ordering),
      fact("Status", statusOf(w)),
      fact("Signing secret", w.secret_rotated_at
        ? ["rotated ", timeEl(w.secret_rotated_at, "relative"), w.previous_secret_expires_at ? ["; the previous secret also signs until ", timeEl(w.previous_secret_expires_at)] : ""]
        : "the one shown when the endpoint was added"),
      fact("Added", timeEl(w.created_at)),
    ]);
    stableRender(toggle, String(w.enabled), () => [
      h("button", { type: "button", class: w.enabled ? "danger writes" : "primary writes", dataset: { fk: "enable-toggle" }, onclick: () => setEnabled(!w.enabled) },
        w.enabled ? "Disable endpoint" : "Enable endpoint"),
      h("button", { type: "button", class: "danger writes", onclick: remove }, "Delete endpoint"),
    ]);
  };
  ctx.streams.then((list) => {
    names.list = list;
    renderFacts(hook);
  });

  const setEnabled = async (on) => {
    if (!on && !(await confirmDanger("Disable this endpoint?",
      "Inlet stops sending to it. Events that happen while it is disabled are not queued for it (the API's POST /v1/webhooks/{id}/recover sends them later); deliveries already waiting resume when you enable it again.",
      "Disable endpoint"))) return;
    try {
      ctx.apply(await patch(`/v1/webhooks/${id}`, { enabled: on }));
      toast(on ? "Endpoint enabled." : "Endpoint disabled.");
    } catch (ex) {
      toast(ex.message, "error");
    }
  };
  const remove = () =>
    confirmRevoke(
      {
        title: "Delete this endpoint?",
        body: `Inlet stops sending to ${hook.url}, and its waiting deliveries and its deliveries log are deleted. This cannot be undone.`,
        confirmLabel: "Delete endpoint",
      },
      `/v1/webhooks/${id}`,
      "Endpoint deleted.",
      async () => ctx.app.navigate("#/webhooks"),
      "Not deleted",
    );

  // --- test
  const testBtn = h("button", { type: "button", class: "primary writes", id: "webhook-test" }, "Send test event");
  const testResult = h("div", { id: "webhook-test-result", "aria-live": "polite" });
  testBtn.addEventListener("click", async () => {
    testBtn.disabled = true;
    replace(testResult, h("p", { class: "muted", role: "status" }, "Sending…"));
    try {
      const r = await post(`/v1/webhooks/${id}/test`);
      replace(testResult, testAnswer(r));
      announce(r.succeeded ? `Test delivered: HTTP ${r.status_code}` : `Test failed: ${r.error || `HTTP ${r.status_code}`}`);
      await deliveries.reload();
    } catch (ex) {
      replace(testResult, errorState(ex));
    } finally {
      testBtn.disabled = false;
    }
  });

  // --- deliveries
  const deliveries = deliveriesLog(id);

  // --- rotate the secret
  const rotateErr = formError();
  const rotated = h("div", { id: "rotate-secret-result", "aria-live": "polite" });
  const rotateBtn = h("button", { type: "submit", class: "primary" }, "Rotate secret");
  const rotateForm = h("form", { novalidate: true, class: "writes" },
    h("fieldset", { class: "radios" }, h("legend", {}, "The current secret keeps signing too"),
      radio("secret-grace", "0", "No: it stops now", false, "Receivers that still check only the old secret reject deliveries from now on."),
      radio("secret-grace", "3600", "For 1 hour"),
      radio("secret-grace", "86400", "For 24 hours", true),
      radio("secret-grace", "604800", "For 7 days")),
    rotateErr.el,
    h("div", { class: "actions" }, rotateBtn));
  rotateForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    rotateErr.set(null);
    const grace = Number(rotateForm.querySelector("input[name=secret-grace]:checked").value);
    if (grace === 0 && !(await confirmDanger("Stop the current secret now?",
      "Deliveries are signed with the new secret only, so your receiver rejects them until it has the new one.", "Rotate now"))) return;
    rotateBtn.disabled = true;
    try {
      const r = await post(`/v1/webhooks/${id}/rotate-secret`, { grace_seconds: grace }, { idempotent: true });
      rememberKey(id, r.secret);
      replace(created);
      replace(rotated, h("div", { class: "notice notice-ok" },
        h("p", {}, h("strong", {}, "New secret created. "),
          r.webhook.previous_secret_expires_at
            ? ["Until ", timeEl(r.webhook.previous_secret_expires_at), " each delivery carries a signature with either secret."]
            : "The previous secret stopped signing."),
        shownOnce({ label: "New signing secret", value: r.secret, id: "webhook-new-secret", note: secretNote })));
      announce("Secret rotated. The new secret is shown once.");
      ctx.apply(r.webhook);
    } catch (ex) {
      rotateErr.set(ex.forField && ex.forField("grace_seconds") ? ex.forField("grace_seconds") : ex.message);
    } finally {
      rotateBtn.disabled = false;
    }
  });

  // --- settings
  const settings = endpointForm({
    initial,
    streams: ctx.streams,
    submitLabel: "Save changes",
    send: async (b) => {
      ctx.apply(await patch(`/v1/webhooks/${id}`, b));
      toast("Endpoint saved.");
    },
  });

  append(
    body,
    created,
    card("Endpoint", facts, toggle),
    card("Send a test event", h("p", { class: "lead" }, "Inlet POSTs a ", h("code", {}, "webhook.test"), " event now, signed like every delivery, and shows what your receiver answered. It is not retried."),
      h("div", { class: "actions" }, testBtn), testResult),
    card("Deliveries", h("p", { class: "lead" }, "Every attempt to deliver an event to this endpoint, newest first. Redeliver sends an event again, with the same id, so receivers that have it already can drop it."),
      deliveries.el),
    card("Rotate the signing secret", h("p", { class: "lead" }, "A new secret is shown once. Let the current one keep signing for a while, so you can update your receiver without rejecting deliveries."),
      rotateForm, rotated),
    card("Settings", settings),
  );
  renderFacts(initial);
  return {
    update(w) {
      hook = w;
      renderFacts(w);
    },
    refresh: () => deliveries.refresh(),
  };
}

const secretNote = "Shown only while you stay on this page: Inlet keeps it encrypted, to sign with, and cannot show it again. Lost it? Rotate it.";

const fact = (k, v) => [h("dt", {}, k), h("dd", {}, v)];

const confirmDanger = (title, text, confirmLabel) => confirmDialog({ title, body: text, confirmLabel, danger: true });

/** What the test call answered: succeeded or not, status, latency, error, the response's start. */
function testAnswer(r) {
  return h("div", { class: `notice ${r.succeeded ? "notice-ok" : "notice-bad"}` },
    h("p", {},
      r.succeeded ? badge("ok", "Succeeded") : badge("refused", "Failed"), " ",
      r.status_code ? `The receiver answered HTTP ${r.status_code}` : "No HTTP answer", ` after ${r.latency_ms} ms.`,
      r.error ? [" ", h("span", { class: "test-error" }, r.error)] : ""),
    h("p", { class: "muted small" }, "Event ", h("code", {}, r.event_id)),
    r.response_body
      ? [h("p", { class: "hint" }, "Response body (its first 4 KiB):"), h("pre", { class: "excerpt", tabindex: "0", "aria-label": "Response body" }, r.response_body)]
      : h("p", { class: "hint" }, "The response body was empty."));
}

function attemptResult(a) {
  const code = a.status_code ? `HTTP ${a.status_code}` : "No answer";
  return [a.succeeded ? badge("ok", code) : badge("refused", code), a.error ? h("p", { class: "muted small" }, a.error) : null];
}

function excerpt(text) {
  if (!text) return h("span", { class: "muted" }, "—");
  if (text.length <= 60) return h("code", {}, text);
  return h("details", {}, h("summary", {}, h("code", {}, `${text.slice(0, 60)}…`)), h("pre", { class: "excerpt" }, text));
}

/** The deliveries log with a status filter and a Redeliver per attempt. The first page is polled;
 * older pages, once loaded, stay until the filter changes. */
function deliveriesLog(id) {
  const filter = h("select", { id: "delivery-status" },
    h("option", { value: "" }, "All"),
    ["pending", "succeeded", "failed", "exhausted"].map((s) => h("option", { value: s }, s[0].toUpperCase() + s.slice(1))));
  const box = h("div");
  const more = h("div");
  let items = [];
  let next = null;
  let older = false;

  const redeliver = async (a) => {
    try {
      const r = await post(`/v1/events/${a.event_id}/redeliver`, { webhook_id: id });
      toast(r.queued ? `${a.event_type} queued again: it is sent within seconds.` : "Nothing was queued.");
      await reload();
    } catch (ex) {
      toast(`Not queued: ${ex.message}`, "error");
    }
  };
  const render = () => {
    stableRender(box, JSON.stringify([items, Math.floor(Date.now() / 30000)]), () => items.length === 0
      ? emptyState(filter.value ? `No ${filter.value} deliveries.` : "No deliveries yet. Send a test event, or wait for your streams' next event.")
      : dataTable({
          id: "deliveries-table",
          caption: "Delivery attempts, newest first",
          columns: ["Event", "Attempt", "When", "Result", "Latency", "Response", "Next attempt", ""],
          rows: items.map((a) => ({
            attrs: { dataset: { eventId: a.event_id, eventType: a.event_type, deliveryStatus: a.delivery_status } },
            cells: [
              [h("code", { class: "nowrap" }, a.event_type), h("p", { class: "muted small mono" }, a.event_id)],
              [`#${a.attempt} `, h("span", { class: "muted small" }, a.delivery_status)],
              timeEl(a.at),
              attemptResult(a),
              `${a.latency_ms} ms`,
              excerpt(a.response_excerpt),
              a.next_attempt_at ? timeEl(a.next_attempt_at, "relative") : h("span", { class: "muted" }, "—"),
              h("button", { type: "button", class: "secondary small writes", "aria-label": `Redeliver ${a.event_type} ${a.event_id}`, dataset: { fk: `rd-${a.id}` }, onclick: () => redeliver(a) }, "Redeliver"),
            ],
          })),
        }));
    stableRender(more, String(!!next), () => (next ? h("button", { type: "button", class: "secondary", dataset: { fk: "more" }, onclick: loadOlder }, "Load older attempts") : null));
  };
  const fetchPage = (cursor) => get(`/v1/webhooks/${id}/deliveries${qs({ status: filter.value, limit: DELIVERIES_PAGE, cursor })}`);
  const reload = async () => {
    let page;
    try {
      page = await fetchPage(null);
    } catch (e) {
      replace(box, errorState(e, reload));
      box.dataset.sig = "";
      return;
    }
    items = page.data;
    next = page.next_cursor;
    older = false;
    render();
  };
  const loadOlder = async () => {
    try {
      const page = await fetchPage(next);
      items = items.concat(page.data);
      next = page.next_cursor;
      older = true;
      render();
    } catch (e) {
      toast(e.message, "error");
    }
  };
  filter.addEventListener("change", reload);
  const el = [
    h("div", { class: "filters" }, h("div", { class: "field" }, h("label", { for: "delivery-status" }, "Delivery status"), filter)),
    box,
    more,
  ];
  return {
    el,
    reload,
    refresh: () => (older ? null : reload()),
  };
}
