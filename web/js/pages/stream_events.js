// A stream's Events tab: what its webhooks receive about it (GET /v1/events?stream_id=…), newest
// first, each in plain words with its JSON a click away. The history the API keeps is read page by
// page (oldest first, `after` the last id seen), then polled for what came after it; a
// stream.rejected of the last minutes is read again, since later refusals raise its count.

import { h, poll, timeEl, stableRender } from "../dom.js";
import { get, qs } from "../api.js";
import { card, emptyState, errorState } from "../components.js";
import { summarizeEvent } from "../events.js";

const POLL_MS = 3000;
const PAGE = 100;
/** The most events kept on the page (the newest). */
const MAX_EVENTS = 1000;
/** How long a stream.rejected may still change (its minute, then the count's last raise). */
const REJECTED_SETTLES_MS = 2 * 60 * 1000;

export function eventsTab(body, ctx) {
  const box = h("div", { class: "list-area" });
  const note = h("p", { class: "muted small" });
  const open = new Set();
  let events = []; // oldest first
  let last = null;
  let dropped = false;

  const fetchNew = async () => {
    for (;;) {
      let page;
      try {
        page = await get(`/v1/events${qs({ stream_id: ctx.id, limit: PAGE, after: last })}`);
      } catch (e) {
        // The last event seen is gone (older than the retention): read again from the oldest kept.
        if (e.status === 422 && last && e.forField && e.forField("after")) {
          events = [];
          last = null;
          continue;
        }
        throw e;
      }
      events = events.concat(page.data);
      if (page.data.length) last = page.data[page.data.length - 1].id;
      if (events.length > MAX_EVENTS) {
        events = events.slice(-MAX_EVENTS);
        dropped = true;
      }
      if (!page.next_cursor) return;
    }
  };

  const settle = async () => {
    const now = Date.now();
    const changing = events.filter((e) => e.type === "stream.rejected" && now - Date.parse(e.data.minute || e.created_at) < REJECTED_SETTLES_MS);
    await Promise.all(changing.map(async (e) => {
      const again = await get(`/v1/events/${e.id}`);
      e.data = again.data;
    }));
    return changing.map((e) => e.data.count);
  };

  const item = (e) => {
    const json = h("details", { class: "event-json", open: open.has(e.id) },
      h("summary", { dataset: { fk: `json-${e.id}` } }, "JSON"),
      h("pre", { tabindex: "0", "aria-label": `${e.type} as JSON` }, JSON.stringify(e, null, 2)));
    json.addEventListener("toggle", () => (json.open ? open.add(e.id) : open.delete(e.id)));
    return h("li", { class: `event event-${e.type.replace(/\./g, "-")}`, dataset: { type: e.type, eventId: e.id } },
      h("div", { class: "attempt-head" },
        h("code", { class: "reason" }, e.type),
        h("span", { class: "muted small" }, timeEl(e.created_at), ` · sequence ${e.sequence}`)),
      h("p", { class: "event-summary" }, summarizeEvent(e)),
      json);
  };

  const refresh = async () => {
    let counts;
    try {
      await fetchNew();
      counts = await settle();
    } catch (e) {
      stableRender(box, `error:${e.message}`, () => errorState(e, refresh));
      return;
    }
    note.textContent = dropped
      ? `The latest ${MAX_EVENTS} events, newest first.`
      : `${events.length} event${events.length === 1 ? "" : "s"}, newest first. Events are kept for the retention the operator set.`;
    stableRender(box, JSON.stringify([last, events.length, counts]), () => events.length === 0
      ? emptyState("No events yet.")
      : h("ol", { class: "events", id: "events-list", "aria-label": "Events, newest first" }, events.slice().reverse().map(item)));
  };

  body.append(card("Events",
    h("p", { class: "lead" }, "What happened to this stream, as your webhooks receive it (and ", h("code", {}, "GET /v1/events"), " replays it): each event in words, with its JSON."),
    note,
    box));
  const stop = poll(refresh, POLL_MS);
  return { destroy: stop };
}
