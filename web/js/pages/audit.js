// The tenant's audit log in words: who (you, another user, an API token, Inlet itself) rotated,
// revoked, minted or changed what (streams, keys, tokens, webhook endpoints, members and their
// password links), when and from where.

import { h, replace, append, timeEl } from "../dom.js";
import { get, all, qs } from "../api.js";
import { emptyState, errorState } from "../components.js";
import { describeActor, seconds } from "../explain.js";

function streamLink(id, names) {
  return h("a", { href: `#/streams/${id}` }, names.get(id) || `stream ${id.slice(0, 8)}…`);
}

function webhookLink(id, names, url) {
  return h("a", { href: `#/webhooks/${id}` }, url || names.get(id) || `endpoint ${id.slice(0, 8)}…`);
}

/** "; API tokens inlet_a…, inlet_b… <what>" when there are any. */
const tokens = (ids, what) => ((ids || []).length ? `; API tokens ${ids.map((id) => `inlet_${id}…`).join(", ")} ${what}` : "");

export function describeEntry(e, names) {
  const d = e.details || {};
  switch (e.action) {
    case "stream.created":
      return ["created the stream ", streamLink(e.target_id, names), d.key_id ? [" with the key ", h("code", {}, `sk_${d.key_id}…`)] : ""];
    case "stream_key.rotated":
      return [
        "rotated the key of ", streamLink(e.target_id, names), ": new key ", h("code", {}, `sk_${d.new_key_id}…`),
        (d.older_key_ids || []).length
          ? [", older keys ", (d.older_key_ids || []).map((k) => `sk_${k}…`).join(", "), Number(d.grace_seconds) > 0 ? ` keep working for ${seconds(d.grace_seconds)}` : " stopped at once"]
          : "",
        d.disconnect_active ? "; the live publisher was disconnected" : "",
      ];
    case "stream_key.revoked":
      return ["revoked the key ", h("code", {}, `sk_${e.target_id}…`), d.stream_id ? [" of ", streamLink(d.stream_id, names)] : ""];
    case "publish_token.minted":
      return ["minted a publish token for ", streamLink(e.target_id, names), ` (valid ${seconds(d.ttl_seconds)}${d.single_use ? ", single use" : ""}${d.ip ? `, bound to ${d.ip}` : ""})`];
    case "signing_key.created":
      return ["created the signing key ", h("code", {}, e.target_id), d.name ? ` (“${d.name}”)` : ""];
    case "signing_key.revoked":
      return ["revoked the signing key ", h("code", {}, e.target_id)];
    case "ip_allowlist.updated":
      return ["set the organization's IP allowlist to ", (d.ip_allowlist || []).length ? (d.ip_allowlist || []).join(", ") : "empty (any address)"];
    case "webhook.created":
      return ["added the webhook endpoint ", webhookLink(e.target_id, names, d.url)];
    case "webhook.updated":
      return ["changed the webhook endpoint ", webhookLink(e.target_id, names, d.url),
        d.was && d.was.enabled !== d.enabled ? (d.enabled ? " and enabled it" : " and disabled it") : ""];
    case "webhook.deleted":
      return ["deleted the webhook endpoint ", h("code", {}, e.target_id)];
    case "webhook.secret_rotated":
      return ["rotated the signing secret of ", webhookLink(e.target_id, names),
        Number(d.grace_seconds) > 0 ? `; the previous one signs for ${seconds(d.grace_seconds)} more` : "; the previous one stopped at once"];
    case "webhook.disabled":
      return ["disabled the webhook endpoint ", webhookLink(e.target_id, names), d.reason ? `: ${d.reason}` : ""];
    case "member.invited":
      return [`invited ${d.email} as ${d.role}`];
    case "member.role_changed":
      return [`changed the role of ${d.email} from ${d.was} to ${d.role}`, tokens(d.lowered_api_token_ids, "lowered with them")];
    case "member.removed":
      return [`removed ${d.email} (${d.role})`, tokens(d.revoked_api_token_ids, "revoked")];
    case "password_reset.issued":
      return [`issued a password-reset link for ${d.email}`, d.expires_at ? [", valid until ", timeEl(d.expires_at)] : ""];
    case "password_reset.used":
      return ["set a new password with a reset link", Number(d.ended_sessions) > 0 ? `, which ended ${d.ended_sessions} dashboard session(s)` : ""];
    default:
      return [h("code", {}, e.action), ` on ${e.target_type} ${e.target_id}`, Object.keys(d).length ? ` ${JSON.stringify(d)}` : ""];
  }
}

export function auditPage(main, _params, app) {
  document.title = "Audit log · Inlet";
  const box = h("div");
  const more = h("div");
  const names = new Map();
  let ctx = { me: app.me, apiTokens: [] };
  let next = null;

  const rows = (entries) => entries.map((e) =>
    h("tr", {},
      h("td", { "data-label": "When" }, timeEl(e.at)),
      h("td", { "data-label": "Who" }, describeActor(e.actor, ctx)),
      h("td", { "data-label": "What" }, describeEntry(e, names)),
      h("td", { "data-label": "From" }, e.client_ip || "—")));

  const load = async (cursor) => {
    let page;
    try {
      page = await get(`/v1/audit-log${qs({ limit: 50, cursor })}`);
    } catch (e) {
      replace(box, errorState(e, () => load(null)));
      return;
    }
    next = page.next_cursor;
    if (!cursor) {
      replace(
        box,
        page.data.length === 0
          ? emptyState("Nothing yet. Key rotations and revocations, token mints, signing keys and allowlist changes are recorded here.")
          : h("table", { class: "table stacked", id: "audit-table" },
              h("caption", { class: "visually-hidden" }, "Audit log, newest first"),
              h("thead", {}, h("tr", {}, ["When", "Who", "What", "From"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", {}, rows(page.data))),
      );
    } else {
      append(box.querySelector("tbody"), rows(page.data));
    }
    replace(more, next ? h("button", { type: "button", class: "secondary", onclick: () => load(next) }, "Load older entries") : null);
  };

  main.append(
    h("h1", {}, "Audit log"),
    h("p", { class: "lead" }, "Who changed credentials and access, newest first. No entry holds a secret."),
    h("section", { class: "card", "aria-label": "Entries" }, box, more),
  );
  replace(box, h("p", { class: "muted" }, "Loading…"));
  Promise.allSettled([
    all("/v1/streams", 300).then((list) => list.forEach((s) => names.set(s.id, s.name))),
    all("/v1/webhooks", 300).then((list) => list.forEach((w) => names.set(w.id, w.url))),
    get("/v1/api-tokens?limit=100").then((r) => (ctx = { ...ctx, apiTokens: r.data })),
  ]).then(() => load(null));
  return null;
}
