// Who is logged in, the organization (its id is the `tid` of publish tokens), the organization-wide
// IP allowlist, and logging out.

import { h, replace, timeEl, copyButton } from "../dom.js";
import { get, put, post } from "../api.js";
import { allowlistEditor, errorState } from "../components.js";

export function accountPage(main, _params, app) {
  document.title = "Account · Inlet";
  const me = app.me;
  const allowBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const logout = h("button", { type: "button", class: "secondary", id: "logout-button" }, "Log out");
  logout.addEventListener("click", async () => {
    try {
      await post("/v1/auth/logout");
    } catch (_) {
      // Already gone: log out locally anyway.
    }
    app.signedOut("You are logged out.");
    app.navigate("#/login");
  });
  main.append(
    h("h1", {}, "Account"),
    h("section", { class: "card", "aria-labelledby": "acc-you" },
      h("h2", { id: "acc-you" }, "You"),
      h("dl", { class: "facts" },
        h("dt", {}, "Email"), h("dd", {}, me.user ? me.user.email : "—"),
        h("dt", {}, "Role"), h("dd", { id: "my-role" }, me.role || "—", " (", h("a", { href: "#/members" }, "Members"), ")"),
        h("dt", {}, "User id"), h("dd", {}, h("code", {}, me.user ? me.user.id : "—")),
        h("dt", {}, "Member since"), h("dd", {}, timeEl(me.user ? me.user.created_at : null))),
      h("p", { class: "hint" }, "The dashboard session lasts 12 hours by default (INLET_SESSION_TTL_HOURS); its cookie is HttpOnly and every change carries a CSRF token."),
      h("div", { class: "actions" }, logout)),
    h("section", { class: "card", "aria-labelledby": "acc-org" },
      h("h2", { id: "acc-org" }, "Organization"),
      h("dl", { class: "facts" },
        h("dt", {}, "Name"), h("dd", {}, me.tenant.name),
        h("dt", {}, "Organization id"), h("dd", {}, h("code", { id: "tenant-id" }, me.tenant.id), " ", copyButton("organization id", () => me.tenant.id, { class: "secondary small" })),
        h("dt", {}, "Created"), h("dd", {}, timeEl(me.tenant.created_at))),
      h("p", { class: "hint" }, "The organization id is the tid claim of publish tokens your backend mints.")),
    h("section", { class: "card", "aria-labelledby": "acc-allow" },
      h("h2", { id: "acc-allow" }, "Organization IP allowlist"),
      h("p", { class: "lead" }, "Applies to every stream, on top of each stream's own list."),
      allowBox),
  );
  const load = async () => {
    try {
      const r = await get("/v1/ip-allowlist");
      replace(allowBox, allowlistEditor({
        label: "Addresses allowed to publish to any of your streams",
        initial: r.ip_allowlist,
        scope: "An encoder's address must match an entry of this list and of its stream's list.",
        onSave: async (list) => (await put("/v1/ip-allowlist", { ip_allowlist: list })).ip_allowlist,
      }));
    } catch (e) {
      replace(allowBox, errorState(e, load));
    }
  };
  load();
  return null;
}
