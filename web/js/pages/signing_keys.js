// Tenant signing keys: Ed25519 key pairs for minting publish tokens offline. The private key is
// shown once; the API keeps only the public key.

import { h, timeEl, copyButton } from "../dom.js";
import { confirmRevoke, createByNameForm, listLoader, shownOnce } from "../components.js";

export function signingKeysPage(main, _params, app) {
  document.title = "Signing keys · Inlet";
  const created = h("div", { "aria-live": "polite" });
  const listBox = h("div");
  const form = createByNameForm({
    id: "signing-key-name",
    placeholder: "backend",
    submitLabel: "Create signing key",
    emptyError: "Give the key a name.",
    url: "/v1/signing-keys",
    created,
    notice: (k) =>
      h("div", { class: "notice notice-ok" },
        h("p", {}, h("strong", {}, `Signing key ${k.id} created.`), " Put ", h("code", {}, k.id), " in your tokens' ", h("code", {}, "kid"), " header and sign them with EdDSA."),
        shownOnce({ label: "Private key (PEM)", value: k.private_key_pem, multiline: true, id: "new-private-key",
          note: "Shown only this once and never stored. Keep it in your backend's secret store." }),
        h("p", { class: "hint" }, "OpenSSL 3, PyJWT and jose refuse this PKCS#8 v2 file as it is: convert it once to v1 as docs/api.md, “Minting offline”, shows.")),
    reload: () => load(),
  });

  const revoke = (k) =>
    confirmRevoke(
      {
        title: `Revoke ${k.id}?`,
        body: "Tokens it signed are refused from now on, even those that have not expired. This cannot be undone.",
        confirmLabel: "Revoke key",
      },
      `/v1/signing-keys/${k.id}`,
      `Signing key ${k.id} revoked.`,
      () => load(),
    );

  const load = listLoader(listBox, "/v1/signing-keys?limit=100",
    "No signing keys. You need one only if your backend mints publish tokens itself; the API can mint them too (a stream's Keys & tokens).",
    (keys) =>
      h("table", { class: "table stacked", id: "signing-keys-table" },
            h("caption", { class: "visually-hidden" }, "Signing keys, newest first"),
            h("thead", {}, h("tr", {}, ["kid", "Name", "Created", "Status", ""].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, keys.map((k) =>
              h("tr", {},
                h("td", { "data-label": "kid" }, h("code", {}, k.id)),
                h("td", { "data-label": "Name" }, k.name),
                h("td", { "data-label": "Created" }, timeEl(k.created_at)),
                h("td", { "data-label": "Status" }, k.revoked_at ? ["Revoked ", timeEl(k.revoked_at, "relative")] : "Active"),
                h("td", { "data-label": "" },
                  copyButton(`public key of ${k.id}`, () => k.public_key_pem, { label: "Copy public key", class: "secondary small" }),
                  " ",
                  k.revoked_at ? null : h("button", { type: "button", class: "danger small writes", "aria-label": `Revoke ${k.id}`, dataset: { fk: `r-${k.id}` }, onclick: () => revoke(k) }, "Revoke")))))));

  const tid = app.me && app.me.tenant ? app.me.tenant.id : "…";
  main.append(
    h("h1", {}, "Signing keys"),
    h("p", { class: "lead" }, "Your backend can mint publish tokens without calling the API: a JWT signed with EdDSA by one of these keys, with ",
      h("code", {}, "aud"), " “inlet-publish”, ", h("code", {}, "sub"), " the stream id, ", h("code", {}, "tid"), " ", h("code", {}, tid), " (your organization), ",
      h("code", {}, "exp"), ", ", h("code", {}, "iat"), " and ", h("code", {}, "jti"), "."),
    h("section", { class: "card writes", "aria-labelledby": "sk-new" }, h("h2", { id: "sk-new" }, "Create a signing key"), form, created),
    h("section", { class: "card", "aria-labelledby": "sk-list" }, h("h2", { id: "sk-list" }, "Keys"), listBox),
  );
  load();
  return null;
}
