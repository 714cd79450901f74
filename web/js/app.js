// The dashboard shell: session check, hash routing (#/streams, #/streams/<id>/keys, ...), the main
// navigation, focus on each page's heading after navigation, and the page lifecycle (each page
// returns a cleanup that stops its polling and its player). Secrets never go into the URL: the
// route holds only ids (a password link's token is taken out of the address bar at once).

import { h, replace, toast } from "./dom.js";
import { get, post, setCsrf, UNAUTHORIZED_EVENT } from "./api.js";
import * as secrets from "./secrets.js";
import { loginPage } from "./pages/login.js";
import { streamsPage, newStreamPage } from "./pages/streams.js";
import { streamPage } from "./pages/stream.js";
import { tokensPage } from "./pages/tokens.js";
import { signingKeysPage } from "./pages/signing_keys.js";
import { webhooksPage, webhookPage } from "./pages/webhooks.js";
import { auditPage } from "./pages/audit.js";
import { accountPage } from "./pages/account.js";
import { membersPage } from "./pages/members.js";
import { resetPage } from "./pages/reset.js";

const SIGNED_IN = "inlet.signedIn";
const main = document.getElementById("main");
const nav = document.getElementById("nav");

/** What every page gets: who is logged in, navigation, a way to update the shell. */
const app = {
  me: null,
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  signedIn(me) {
    app.me = me;
    // A viewer only reads: CSS hides what carries the class `writes`.
    document.body.dataset.role = me.role || (me.user && me.user.role) || "";
    setCsrf(me.csrf_token);
    localStorage.setItem(SIGNED_IN, "1");
    renderNav();
  },
  signedOut(message) {
    app.me = null;
    delete document.body.dataset.role;
    setCsrf(null);
    secrets.forgetAll();
    localStorage.removeItem(SIGNED_IN);
    renderNav();
    if (message) sessionStorage.setItem("inlet.loginMessage", message);
  },
};

const routes = [
  { re: /^#\/login$/, page: loginPage, public: true },
  // A password link works logged in or out.
  { re: /^#\/reset(?:\?.*)?$/, page: resetPage, public: true, anyone: true },
  { re: /^#\/streams$/, page: streamsPage, nav: "streams" },
  { re: /^#\/streams\/new$/, page: newStreamPage, nav: "streams" },
  { re: /^#\/streams\/([0-9a-fA-F-]{36})(?:\/(keys|settings|attempts|sessions|events))?$/, page: streamPage, nav: "streams", keepsSecret: true },
  { re: /^#\/webhooks$/, page: webhooksPage, nav: "webhooks" },
  { re: /^#\/webhooks\/([0-9a-fA-F-]{36})$/, page: webhookPage, nav: "webhooks", keepsSecret: true },
  { re: /^#\/tokens$/, page: tokensPage, nav: "tokens" },
  { re: /^#\/signing-keys$/, page: signingKeysPage, nav: "signing-keys" },
  { re: /^#\/members$/, page: membersPage, nav: "members" },
  { re: /^#\/audit$/, page: auditPage, nav: "audit" },
  { re: /^#\/account$/, page: accountPage, nav: "account" },
];

const navItems = [
  ["streams", "#/streams", "Streams"],
  ["webhooks", "#/webhooks", "Webhooks"],
  ["tokens", "#/tokens", "API tokens"],
  ["signing-keys", "#/signing-keys", "Signing keys"],
  ["members", "#/members", "Members"],
  ["audit", "#/audit", "Audit log"],
  ["account", "#/account", "Account"],
];

let current = null;
let cleanup = null;
let first = true;

function renderNav() {
  if (!app.me) {
    replace(nav);
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const active = current && current.nav;
  replace(
    nav,
    h(
      "ul",
      {},
      navItems.map(([key, href, text]) =>
        h("li", {}, h("a", { href, "aria-current": key === active ? "page" : null }, text)),
      ),
      h("li", { class: "nav-logout" }, h("button", { type: "button", class: "link", onclick: logout }, "Log out")),
    ),
  );
}

async function logout() {
  try {
    await post("/v1/auth/logout");
  } catch (_) {
    // The session may be gone already; logging out locally is what matters.
  }
  app.signedOut("You are logged out.");
  app.navigate("#/login");
}

async function route() {
  const hash = location.hash || "#/streams";
  if (!hash.startsWith("#/")) return; // in-page anchors are not routes
  const found = routes.find((r) => r.re.test(hash));
  if (!found) {
    app.navigate("#/streams");
    return;
  }
  if (!found.public && !app.me) {
    sessionStorage.setItem("inlet.next", hash);
    app.navigate("#/login");
    return;
  }
  if (found.public && !found.anyone && app.me) {
    app.navigate("#/streams");
    return;
  }
  if (cleanup) {
    try {
      cleanup();
    } catch (_) {
      // A page that fails to clean up must not block the next one.
    }
    cleanup = null;
  }
  const params = hash.match(found.re).slice(1);
  // A key or secret shown once stays only while its stream's or webhook's pages are open.
  secrets.forgetAllExcept(found.keepsSecret ? params[0] : null);
  current = found;
  renderNav();
  replace(main);
  main.removeAttribute("aria-busy");
  const ret = found.page(main, params, app);
  cleanup = typeof ret === "function" ? ret : null;
  if (!first) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
    window.scrollTo(0, 0);
  }
  first = false;
}

window.addEventListener(UNAUTHORIZED_EVENT, () => {
  if (!app.me) return;
  app.signedOut("Your session has ended. Log in again.");
  app.navigate("#/login");
});

window.addEventListener("hashchange", route);

document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  const heading = main.querySelector("h1") || main;
  heading.setAttribute("tabindex", "-1");
  heading.focus();
});

async function boot() {
  // Without the marker there is no session to look for: skip the /v1/me that would answer 401.
  if (localStorage.getItem(SIGNED_IN) === "1") {
    try {
      const me = await get("/v1/me");
      if (me && me.user) app.signedIn(me);
    } catch (e) {
      if (e.status !== 401) {
        replace(main, h("p", { class: "error-state", role: "alert" }, `The API did not answer: ${e.message}. Reload to retry.`));
        return;
      }
      app.signedOut();
    }
  }
  renderNav();
  route();
}

boot().catch((e) => toast(String(e.message || e), "error"));
