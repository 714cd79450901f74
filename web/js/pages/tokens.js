// API tokens for programs: create (the secret is shown once), list, revoke.

import { h, replace, timeEl, field, setFieldError } from "../dom.js";
import { post } from "../api.js";
import { confirmRevoke, listLoader, shownOnce } from "../components.js";

export function tokensPage(main) {
  document.title = "API tokens · Inlet";
  const name = field("Name", h("input", { id: "token-name", type: "text", maxlength: 100, autocomplete: "off", placeholder: "ci" }),
    "What the token is for, e.g. the program that uses it.");
  const submit = h("button", { type: "submit", class: "primary" }, "Create token");
  const created = h("div", { "aria-live": "polite" });
  const listBox = h("div");
  const form = h("form", { class: "inline-form", novalidate: true }, name.wrap, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setFieldError(name, null);
    const v = name.input.value.trim();
    if (!v) {
      setFieldError(name, "Give the token a name.");
      name.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const t = await post("/v1/api-tokens", { name: v }, { idempotent: true });
      name.input.value = "";
      replace(
        created,
        h("div", { class: "notice notice-ok" },
          h("p", {}, h("strong", {}, `Token “${t.name}” created.`), " Programs send it as ", h("code", {}, "Authorization: Bearer inlet_…"), "."),
          shownOnce({ label: "API token", value: t.token, id: "new-api-token" })),
      );
      await load();
    } catch (ex) {
      setFieldError(name, ex.forField ? ex.forField("name") || ex.message : ex.message);
    } finally {
      submit.disabled = false;
    }
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
                h("td", { "data-label": "" }, h("button", { type: "button", class: "danger small", "aria-label": `Revoke ${t.name}`, dataset: { fk: `r-${t.id}` }, onclick: () => revoke(t) }, "Revoke")))))));

  main.append(
    h("h1", {}, "API tokens"),
    h("p", { class: "lead" }, "Tokens let programs use the REST API (docs: ", h("a", { href: "/v1/openapi.json" }, "OpenAPI document"), "). A token can do everything you can do here, so give each program its own and revoke what you no longer use."),
    h("section", { class: "card", "aria-labelledby": "tok-new" }, h("h2", { id: "tok-new" }, "Create a token"), form, created),
    h("section", { class: "card", "aria-labelledby": "tok-list" }, h("h2", { id: "tok-list" }, "Active tokens"), listBox),
  );
  load();
  return null;
}
