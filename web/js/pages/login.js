// Log in with email and password (POST /v1/auth/login): the API sets the HttpOnly session cookie
// and answers the CSRF token, which stays in memory for the writes of this page load.

import { h } from "../dom.js";
import { post, get, ApiError } from "../api.js";
import { formError } from "../components.js";

export function loginPage(main, _params, app) {
  document.title = "Log in · Inlet";
  const message = sessionStorage.getItem("inlet.loginMessage");
  sessionStorage.removeItem("inlet.loginMessage");
  const email = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: true, spellcheck: "false" });
  const password = h("input", { id: "login-password", type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const err = formError();
  const form = h(
    "form",
    { class: "card login-card", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "login-email" }, "Email"), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password),
    err.el,
    h("div", { class: "actions" }, submit),
    h(
      "p",
      { class: "hint" },
      "On its first start, ",
      h("code", {}, "inlet"),
      " prints a one-time admin login (",
      h("code", {}, "admin@inlet.local"),
      " and a generated password). Operators create further organizations with ",
      h("code", {}, "POST /admin/v1/tenants"),
      ".",
    ),
    h("p", { class: "hint" }, "Forgot your password? An owner or admin of your organization can give you a reset link (Members); a locked-out owner asks the operator."),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.set(null);
    if (!email.value.trim() || !password.value) {
      err.set("Enter your email and password.");
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Logging in…";
    try {
      const answer = await post("/v1/auth/login", { email: email.value.trim(), password: password.value });
      app.signedIn({ ...answer, api_token_id: null });
      // The full picture (the same as after a reload) comes from /v1/me.
      try {
        const me = await get("/v1/me");
        if (me && me.user) app.signedIn(me);
      } catch (_) {
        // The login answer is enough to go on.
      }
      const next = sessionStorage.getItem("inlet.next");
      sessionStorage.removeItem("inlet.next");
      app.navigate(next && next !== "#/login" ? next : "#/streams");
    } catch (ex) {
      const text = ex instanceof ApiError && ex.status === 401
        ? "Wrong email or password."
        : ex.message;
      err.set(text);
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Log in";
    }
  });
  main.append(
    h(
      "section",
      { class: "login" },
      h("h1", {}, "Log in to Inlet"),
      h("p", { class: "lead" }, "Create live streams, copy their Server and Stream Key into your encoder, and see why a publish failed."),
      message ? h("p", { class: "notice", role: "status" }, message) : null,
      form,
    ),
  );
  email.focus();
}
