// The streams list (live status updated by polling, a status filter answered by the API, a name
// search over what is loaded, the tenant's publish figures of the last 24 h) and the create form.

import { h, replace, poll, timeEl, badge, field, setFieldError, announce, stableRender } from "../dom.js";
import { get, post, qs } from "../api.js";
import { emptyState, errorState, formError, radio } from "../components.js";
import { rememberKey } from "../secrets.js";

const POLL_MS = 3000;
const PAGE = 100;

export function statusBadge(s) {
  if (s.status === "live" && s.active_session && s.active_session.state === "reconnecting") {
    return badge("reconnecting", "Reconnecting");
  }
  return badge(s.status, { live: "Live", idle: "Idle", disabled: "Disabled" }[s.status] || s.status);
}

export function streamsPage(main) {
  document.title = "Streams · Inlet";
  const search = h("input", { id: "stream-search", type: "search", autocomplete: "off", placeholder: "Name or id" });
  const status = h(
    "select",
    { id: "stream-status" },
    h("option", { value: "" }, "All"),
    h("option", { value: "live" }, "Live"),
    h("option", { value: "idle" }, "Idle"),
    h("option", { value: "disabled" }, "Disabled"),
  );
  const stats = h("div", { class: "stats", "aria-label": "Last 24 hours" });
  const list = h("div", { class: "list-area" });
  const more = h("div");
  let streams = [];
  let next = null;
  let error = null;
  let loaded = false;

  // Re-rendered only when what it shows changes (see stableRender).
  const show = (sig, ...children) => stableRender(list, sig, () => children);
  const render = () => {
    if (error) {
      show(`error:${error.message}`, errorState(error, () => refresh()));
      return;
    }
    if (!loaded) {
      show("loading", h("p", { class: "muted" }, "Loading streams…"));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const shown = streams.filter((s) => !q || s.name.toLowerCase().includes(q) || s.id.startsWith(q));
    if (streams.length === 0) {
      show(
        `empty:${status.value}`,
        emptyState(
          status.value ? `No ${status.value} streams.` : "No streams yet. Create one to get the Server and Stream Key for your encoder.",
          status.value ? null : h("a", { class: "button primary writes", href: "#/streams/new" }, "New stream"),
        ),
      );
      return;
    }
    if (shown.length === 0) {
      show(`nomatch:${search.value}`, emptyState(`No stream matches “${search.value.trim()}”.`));
      return;
    }
    stableRender(list, JSON.stringify([shown, streams.length, q, Math.floor(Date.now() / 30000)]), () => [
      h(
        "table",
        { class: "table stacked", id: "streams-table" },
        h("caption", { class: "visually-hidden" }, "Streams, newest first"),
        h("thead", {}, h("tr", {}, ["Name", "Status", "Auth", "Last live", "Created"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          shown.map((s) =>
            h(
              "tr",
              { dataset: { streamId: s.id } },
              h("td", { "data-label": "Name" }, h("a", { href: `#/streams/${s.id}`, dataset: { fk: `s-${s.id}` } }, s.name)),
              h("td", { "data-label": "Status" }, statusBadge(s),
                s.active_session && s.active_session.health
                  ? h("span", { class: "muted small" }, ` ${s.active_session.health.bitrate_kbps} kbit/s`)
                  : null),
              h("td", { "data-label": "Auth" }, s.auth_mode),
              h("td", { "data-label": "Last live" }, s.status === "live" && s.active_session ? ["since ", timeEl(s.active_session.started_at, "relative")] : timeEl(s.last_live_at, "relative")),
              h("td", { "data-label": "Created" }, timeEl(s.created_at)),
            ),
          ),
        ),
      ),
      h("p", { class: "muted small" }, `${shown.length} of ${streams.length} loaded stream${streams.length === 1 ? "" : "s"}${q ? " match" : ""}. Status updates every few seconds.`),
    ]);
    stableRender(more, String(!!next), () =>
      next ? h("button", { type: "button", class: "secondary", dataset: { fk: "more" }, onclick: loadMore }, "Load more streams") : null,
    );
  };

  const refresh = async () => {
    try {
      // Polling refreshes what is loaded (at least the first page) in one call.
      const limit = Math.min(Math.max(streams.length, PAGE), 100);
      const page = await get(`/v1/streams${qs({ status: status.value, limit })}`);
      streams = page.data;
      next = page.next_cursor;
      error = null;
    } catch (e) {
      error = e;
    }
    loaded = true;
    render();
  };

  const loadMore = async () => {
    try {
      const page = await get(`/v1/streams${qs({ status: status.value, limit: PAGE, cursor: next })}`);
      streams = streams.concat(page.data);
      next = page.next_cursor;
      render();
    } catch (e) {
      error = e;
      render();
    }
  };

  const refreshStats = async () => {
    try {
      const s = await get("/v1/stats");
      const rate = s.publish_attempts.success_rate;
      const refusals = Object.entries(s.refusals_by_reason || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
      replace(
        stats,
        h("div", { class: "stat" }, h("span", { class: "stat-value" }, String(s.live_now)), h("span", { class: "stat-label" }, "live now")),
        h("div", { class: "stat" }, h("span", { class: "stat-value" }, String(s.publish_attempts.total)), h("span", { class: "stat-label" }, "publish attempts (24 h)")),
        h("div", { class: "stat" }, h("span", { class: "stat-value" }, rate === null ? "—" : `${Math.round(rate * 100)} %`), h("span", { class: "stat-label" }, "accepted")),
        h("div", { class: "stat" }, h("span", { class: "stat-value" }, String(s.sessions.started)), h("span", { class: "stat-label" }, "sessions (24 h)")),
        refusals.length
          ? h("div", { class: "stat stat-wide" }, h("span", { class: "stat-label" }, "Most refusals: "), refusals.map(([code, n]) => h("span", { class: "chip" }, `${code} × ${n}`)))
          : null,
      );
    } catch (_) {
      replace(stats);
    }
  };

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      render();
      announce(`${list.querySelectorAll("tbody tr").length} streams shown`);
    }, 150);
  });
  status.addEventListener("change", () => {
    loaded = false;
    streams = [];
    render();
    refresh();
  });

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Streams"),
      h("a", { class: "button primary writes", href: "#/streams/new" }, "New stream"),
    ),
    stats,
    h(
      "div",
      { class: "filters", role: "search" },
      h("div", { class: "field" }, h("label", { for: "stream-search" }, "Search by name"), search),
      h("div", { class: "field" }, h("label", { for: "stream-status" }, "Status"), status),
    ),
    list,
    more,
  );
  render();
  const stopList = poll(refresh, POLL_MS);
  const stopStats = poll(refreshStats, 15000);
  return () => {
    stopList();
    stopStats();
    clearTimeout(searchTimer);
  };
}

export function newStreamPage(main, _params, app) {
  document.title = "New stream · Inlet";
  const name = field("Name", h("input", { id: "new-stream-name", type: "text", maxlength: 100, required: true, autocomplete: "off" }),
    "1–100 characters, for you to tell streams apart (e.g. “studio-a”).");
  const mode = h(
    "fieldset",
    { class: "radios" },
    h("legend", {}, "How encoders prove they may publish"),
    radio("auth_mode", "key", "Stream key (what OBS and most encoders use)", true),
    radio("auth_mode", "key+token", "Stream key and a short-lived publish token"),
    radio("auth_mode", "token", "Publish token only (minted by your backend or here)"),
  );
  const err = formError();
  const submit = h("button", { type: "submit", class: "primary" }, "Create stream");
  const form = h(
    "form",
    { class: "card writes", novalidate: true },
    name.wrap,
    mode,
    err.el,
    h("div", { class: "actions" }, submit, h("a", { class: "button secondary", href: "#/streams" }, "Cancel")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.set(null);
    setFieldError(name, null);
    const value = name.input.value.trim();
    if (!value) {
      setFieldError(name, "Give the stream a name.");
      name.input.focus();
      return;
    }
    const authMode = form.querySelector("input[name=auth_mode]:checked").value;
    submit.disabled = true;
    try {
      const created = await post("/v1/streams", { name: value, auth_mode: authMode }, { idempotent: true });
      rememberKey(created.stream.id, created.stream_key);
      app.navigate(`#/streams/${created.stream.id}`);
    } catch (ex) {
      const f = ex.forField ? ex.forField("name") : "";
      if (f) {
        setFieldError(name, f);
        name.input.focus();
      } else err.set(ex.message);
      submit.disabled = false;
    }
  });
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/streams" }, "Streams"), " / New stream"),
    h("h1", {}, "New stream"),
    h("p", { class: "lead" }, "You get the Server and the Stream Key for your encoder on the next page. The key is shown in full only once."),
    form,
  );
  name.input.focus();
}
