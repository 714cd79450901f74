// Choose a password through a one-time link (#/reset?token=rst_…), logged in or not: an invited
// member's first password, or a reset. The token is taken out of the address bar at once (it stays in
// this page's memory only); the API answers a session, like login, and ends the user's others.

import { h, field, setFieldError, toast } from "../dom.js";
import { post, get } from "../api.js";
import { formError, showFieldErrors } from "../components.js";

const TOKEN = /rst_[A-Za-z0-9]+_[A-Za-z0-9]+/;

export function resetPage(main, _params, app) {
  document.title = "Choose a password · Inlet";
  const query = location.hash.split("?")[1] || "";
  const fromLink = new URLSearchParams(query).get("token");
  if (query) history.replaceState(null, "", "#/reset");

  const token = field("Link or token", h("input", { id: "reset-token", type: "text", autocomplete: "off", spellcheck: "false", class: "mono" }),
    "Paste the whole link you were given, or the rst_… token in it.");
  const pw = field("New password", h("input", { id: "reset-password", type: "password", autocomplete: "new-password", maxlength: 256 }),
    "10–256 characters.");
  const again = field("Repeat the password", h("input", { id: "reset-password-again", type: "password", autocomplete: "new-password", maxlength: 256 }));
  const err = formError();
  // A token from the link has no field: its errors go to the form's error line.
  const named = fromLink ? { password: pw } : { token, password: pw };
  const submit = h("button", { type: "submit", class: "primary" }, "Set password and log in");
  const form = h("form", { class: "card login-card", novalidate: true },
    fromLink ? null : token.wrap, pw.wrap, again.wrap, err.el, h("div", { class: "actions" }, submit));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showFieldErrors(null, named, err);
    setFieldError(again, null);
    const m = TOKEN.exec(fromLink || token.input.value);
    const n = [...pw.input.value].length;
    const problems = [
      [!m && !fromLink, token, "Paste the link (or its rst_… token)."],
      [n < 10 || n > 256, pw, "Use 10 to 256 characters."],
      [pw.input.value !== again.input.value, again, "The two passwords differ."],
    ].filter(([bad]) => bad);
    problems.forEach(([, f, text]) => setFieldError(f, text));
    if (problems.length) {
      problems[0][1].input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await post("/v1/auth/password-reset", { token: fromLink || m[0], password: pw.input.value });
      app.signedIn({ ...answer, role: answer.user.role, api_token_id: null });
      try {
        const me = await get("/v1/me");
        if (me && me.user) app.signedIn(me);
      } catch (_) {
        // The answer is enough to go on.
      }
      toast("Password set. You are logged in.");
      app.navigate("#/streams");
    } catch (ex) {
      const first = showFieldErrors(ex, named, err);
      if (first) first.focus();
    } finally {
      submit.disabled = false;
    }
  });

  main.append(
    h("section", { class: "login" },
      h("h1", {}, "Choose a password"),
      h("p", { class: "lead" }, "A link from an owner or admin of your organization (or from the operator) lets you set your password once, within 24 hours. Setting it logs you out everywhere else."),
      form,
      h("p", { class: "hint" }, "Link expired or already used? Ask for a new one. ", app.me ? null : h("a", { href: "#/login" }, "Log in instead"))),
  );
  (fromLink ? pw : token).input.focus();
}
