// API tokens for programs: create (the secret is shown once), list, revoke.

import { h, timeEl } from "../dom.js";
import { confirmRevoke, createByNameForm, listLoader, shownOnce } from "../components.js";

export function tokensPage(main) {
  document.title = "API tokens · Inlet";
  const created = h("div", { "aria-live": "polite" });
  const listBox = h("div");
  const form = createByNameForm({
    id: "token-name",
    placeholder: "ci",
    hint: "What the token is for, e.g. the program that uses it.",
    submitLabel: "Create token",
    emptyError: "Give the token a name.",
    url: "/v1/api-tokens",
    created,
    notice: (t) =>
      h("div", { class: "notice notice-ok" },
        h("p", {}, h("strong", {}, `Token “${t.name}” created.`), " Programs send it as ", h("code", {}, "Authorization: Bearer inlet_…"), "."),
        shownOnce({ label: "API token", value: t.token, id: "new-api-token" })),
    reload: () => load(),
  });

  const revoke = (t) =>
    confirmRevoke(
      {
        title: `Revoke “${t.name}”?`,
        body: "Programs using this token get 401 from now on. This cannot be undone.",
        confirmLabel: "Revoke token",
      },
      `/v1/api-tokens/${t.id}`,
      `Token “${t.name}” revoked.`,
      () => load(),
    );

  const load = listLoader(listBox, "/v1/api-tokens?limit=100",
    "No API tokens. Create one for each program that calls the API.",
    (tokens) =>
      h("table", { class: "table stacked", id: "tokens-table" },
            h("caption", { class: "visually-hidden" }, "Active API tokens, newest first"),
            h("thead", {}, h("tr", {}, ["Name", "Prefix", "Created", "Last used", ""].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, tokens.map((t) =>
              h("tr", {},
                h("td", { "data-label": "Name" }, t.name),
                h("td", { "data-label": "Prefix" }, h("code", {}, `${t.prefix}…`)),
                h("td", { "data-label": "Created" }, timeEl(t.created_at)),
                h("td", { "data-label": "Last used" }, timeEl(t.last_used_at, "relative")),
                h("td", { "data-label": "" }, h("button", { type: "button", class: "danger small writes", "aria-label": `Revoke ${t.name}`, dataset: { fk: `r-${t.id}` }, onclick: () => revoke(t) }, "Revoke")))))));

  main.append(
    h("h1", {}, "API tokens"),
    h("p", { class: "lead" }, "Tokens let programs use the REST API (docs: ", h("a", { href: "/v1/openapi.json" }, "OpenAPI document"), "). A token can do everything you can do here, so give each program its own and revoke what you no longer use."),
    h("section", { class: "card writes", "aria-labelledby": "tok-new" }, h("h2", { id: "tok-new" }, "Create a token"), form, created),
    h("section", { class: "card", "aria-labelledby": "tok-list" }, h("h2", { id: "tok-list" }, "Active tokens"), listBox),
  );
  load();
  return null;
}
