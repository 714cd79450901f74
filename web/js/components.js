// Building blocks shared by the pages: a secret shown once (masked, with Show and Copy), the IP
// allowlist editor that validates CIDRs as you type, confirmation dialogs, empty and error states,
// tables that stack on narrow screens, checkbox groups and the API's field errors beside fields.

import { h, uid, copyButton, replace, announce, toast, stableRender, field, setFieldError } from "./dom.js";
import { get, post, del, ApiError } from "./api.js";
import { validateList, MAX_ENTRIES } from "./cidr.js";

/** `sk_AbC…_••••` style mask: the public part stays, the secret becomes dots. */
export function mask(value) {
  const v = String(value || "");
  const m = /^(sk_[A-Za-z0-9]+_|inlet_[A-Za-z0-9]+_|whsec_|rst_[A-Za-z0-9]+_|[^?]*[?&]token=rst_[A-Za-z0-9]+_)/.exec(v);
  if (m) return `${m[1]}${"•".repeat(16)}`;
  if (v.startsWith("-----BEGIN")) return "-----BEGIN PRIVATE KEY----- •••••••• (hidden)";
  return `${v.slice(0, 6)}${"•".repeat(16)}`;
}

/**
 * A secret the API shows only once: a read-only field, masked until "Show", with "Copy".
 * @param {{label: string, value: string, note?: string, multiline?: boolean, id?: string}} o
 */
export function shownOnce(o) {
  const id = o.id || uid("secret");
  let shown = false;
  const input = o.multiline
    ? h("textarea", { id, readonly: true, rows: 6, spellcheck: "false", class: "mono" })
    : h("input", { id, type: "text", readonly: true, spellcheck: "false", autocomplete: "off", class: "mono" });
  const show = h("button", { type: "button", class: "secondary", "aria-pressed": "false", "aria-controls": id }, "Show");
  const render = () => {
    input.value = shown ? o.value : mask(o.value);
    show.textContent = shown ? "Hide" : "Show";
    show.setAttribute("aria-pressed", String(shown));
    show.setAttribute("aria-label", `${shown ? "Hide" : "Show"} ${o.label}`);
  };
  show.addEventListener("click", () => {
    shown = !shown;
    render();
  });
  render();
  return h(
    "div",
    { class: "field shown-once" },
    h("label", { for: id }, o.label),
    h("div", { class: "copyrow" }, input, show, copyButton(o.label, () => o.value, { class: "primary" })),
    h("p", { class: "hint warn-text" }, o.note || "Shown only this once: copy it now. It is stored only as a hash and cannot be shown again."),
  );
}

/** A card: a section named by its h2. */
export function card(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

/** A page whose object is gone (deleted, another organization's): its heading says so and its
 * body points `back`. */
export function showNotFound(head, body, title, text, back) {
  replace(head, h("h1", {}, title));
  replace(body, emptyState(text, back));
}

/** A friendly empty state. */
export function emptyState(text, ...actions) {
  return h("div", { class: "empty" }, h("p", {}, text), actions.length ? h("p", {}, actions) : null);
}

/** An error state with a retry button. */
export function errorState(err, retry) {
  const status = err && err.status ? ` (HTTP ${err.status})` : "";
  return h(
    "div",
    { class: "error-state", role: "alert" },
    h("p", {}, h("strong", {}, "Something went wrong"), status, ": ", (err && err.message) || String(err)),
    retry ? h("button", { type: "button", class: "secondary", onclick: retry }, "Retry") : null,
  );
}

/** Inline error (role=alert) under a form; `set(null)` clears it. */
export function formError() {
  const el = h("p", { class: "form-error", role: "alert", hidden: true });
  return {
    el,
    set(text) {
      el.textContent = text || "";
      el.hidden = !text;
    },
  };
}

/**
 * Asks for confirmation in a modal <dialog> (focus stays inside; Esc cancels).
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, body, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const cancel = h("button", { type: "button", class: "secondary", value: "cancel" }, "Cancel");
    const ok = h("button", { type: "button", class: danger ? "danger" : "primary", value: "ok" }, confirmLabel);
    const dlg = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title),
      typeof body === "string" ? h("p", {}, body) : body,
      h("div", { class: "actions" }, cancel, ok),
    );
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/**
 * The IP allowlist editor: one entry per line, each checked as you type (what is wrong, what will be
 * stored), with what IPv4 and IPv6 entries look like.
 * @param {{label: string, initial: string[], scope: string, onSave: (list: string[]) => Promise<string[]>}} o
 */
export function allowlistEditor(o) {
  const id = uid("allow");
  const ta = h("textarea", {
    id,
    rows: 5,
    spellcheck: "false",
    autocomplete: "off",
    class: "mono",
    placeholder: "For example:\n203.0.113.0/24\n2001:db8::/32",
    "aria-describedby": `${id}-help ${id}-check`,
  });
  ta.value = (o.initial || []).join("\n");
  const check = h("div", { id: `${id}-check`, class: "cidr-check", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary writes" }, "Save allowlist");
  const status = h("p", { class: "hint", role: "status" });
  const help = h(
    "div",
    { id: `${id}-help`, class: "hint" },
    h("p", {}, `One entry per line. ${o.scope} An empty list admits every address.`),
    h(
      "ul",
      {},
      h("li", {}, h("strong", {}, "IPv4: "), "an address such as ", h("code", {}, "203.0.113.7"), " (that one address, saved as /32) or a range in CIDR form such as ", h("code", {}, "203.0.113.0/24"), " (the 256 addresses 203.0.113.0–255). The number after / is how many leading bits must match, 0–32."),
      h("li", {}, h("strong", {}, "IPv6: "), "an address such as ", h("code", {}, "2001:db8::1"), " (saved as /128) or a range such as ", h("code", {}, "2001:db8::/32"), " (0–128 bits). A home or office line usually gets a /56 or /64."),
      h("li", {}, "Write IPv4 rules in IPv4 form: an encoder on IPv4 matches ", h("code", {}, "203.0.113.0/24"), " even on a dual-stack server, but never ", h("code", {}, "::ffff:203.0.113.0/120"), "."),
      h("li", {}, `At most ${MAX_ENTRIES} entries. Host bits are cleared (10.1.2.3/8 is saved as 10.0.0.0/8) and duplicates removed.`),
    ),
  );

  let result = validateList(ta.value);
  const validate = () => {
    result = validateList(ta.value);
    const items = result.entries.map((e) =>
      h(
        "li",
        { class: e.ok ? (e.warnings.length ? "cidr-warn" : "cidr-ok") : "cidr-bad" },
        h("code", {}, e.text),
        " — ",
        e.ok
          ? [`IPv${e.family}, saved as `, h("code", {}, e.normalized), e.warnings.length ? ` (${e.warnings.join("; ")})` : ""]
          : `line ${e.line}: ${e.error}`,
      ),
    );
    const summary = result.entries.length === 0
      ? h("p", {}, "Empty: every address may publish (as far as this list is concerned).")
      : h(
          "p",
          {},
          result.errors === 0
            ? `${result.list.length} entr${result.list.length === 1 ? "y" : "ies"}, all valid.`
            : `${result.errors} problem${result.errors === 1 ? "" : "s"} to fix before saving.`,
          result.tooMany ? ` At most ${MAX_ENTRIES} entries.` : "",
        );
    replace(check, summary, items.length ? h("ul", { class: "cidr-list" }, items) : null);
    ta.toggleAttribute("aria-invalid", result.errors > 0);
    save.disabled = result.errors > 0;
  };
  ta.addEventListener("input", validate);
  validate();

  const form = h(
    "form",
    { class: "allowlist", novalidate: true },
    h("label", { for: id }, o.label),
    help,
    ta,
    check,
    h("div", { class: "actions" }, save),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    validate();
    if (result.errors > 0) {
      ta.focus();
      return;
    }
    save.disabled = true;
    status.textContent = "Saving…";
    try {
      const stored = await o.onSave(result.list);
      ta.value = stored.join("\n");
      validate();
      status.textContent = stored.length
        ? `Saved: ${stored.length} entr${stored.length === 1 ? "y" : "ies"}.`
        : "Saved: the list is empty, every address is admitted.";
      announce(status.textContent);
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    } finally {
      save.disabled = result.errors > 0;
    }
  });
  return form;
}

/** A read-only value with a Copy button (Server, playback URL, ffmpeg command). */
export function copyField(label, value, opts = {}) {
  const id = opts.id || uid("cf");
  const input = opts.multiline
    ? h("textarea", { id, readonly: true, rows: opts.rows || 4, spellcheck: "false", class: "mono" })
    : h("input", { id, type: "text", readonly: true, spellcheck: "false", class: "mono" });
  input.value = value;
  const wrap = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("div", { class: "copyrow" }, input, copyButton(opts.copyName || label, () => (opts.copyValue ? opts.copyValue() : input.value), { class: "primary" })),
    opts.hint ? h("p", { class: "hint" }, opts.hint) : null,
  );
  return { wrap, input };
}

/** A loader for a list page: fetches `url`'s `data` into `box` as `table(items)`, `empty` when there
 * are none, or an error state with a retry; re-renders only when the data changed. */
export function listLoader(box, url, empty, table) {
  const load = async () => {
    let items;
    try {
      items = (await get(url)).data;
    } catch (e) {
      replace(box, errorState(e, load));
      return;
    }
    stableRender(box, JSON.stringify(items), () => (items.length === 0 ? emptyState(empty) : table(items)));
  };
  return load;
}

/** Asks before revoking (`dialog`: title, body, confirmLabel), then DELETEs `path`, says `done` and
 * runs `reload`; a failure is told (after `failed`), not thrown. */
export async function confirmRevoke(dialog, path, done, reload, failed = "Not revoked") {
  const ok = await confirmDialog({ ...dialog, danger: true });
  if (!ok) return;
  try {
    await del(path);
    toast(done);
    await reload();
  } catch (ex) {
    toast(`${failed}: ${ex.message}`, "error");
  }
}

/** A "create by name" form: validates the name, POSTs `{name}` to `url` (idempotently), shows
 * `notice(created)` in `o.created` once (the secret it carries is shown only there), then runs
 * `o.reload`. The API's field error is shown on the name. `o`: id, placeholder, hint, submitLabel,
 * emptyError, url, created, notice, reload; optionally `key` and `label` (another field than
 * `name`, e.g. an email), `type` (of its input) and `extra` (more `field()`s, whose inputs' `name`
 * attributes give their keys in the body). A viewer does not see it (class `writes`). */
export function createByNameForm(o) {
  const key = o.key || "name";
  const name = field(o.label || "Name", h("input", { id: o.id, type: o.type || "text", maxlength: o.type === "email" ? 254 : 100, autocomplete: "off", placeholder: o.placeholder }), o.hint);
  const extra = o.extra || [];
  const submit = h("button", { type: "submit", class: "primary" }, o.submitLabel);
  const form = h("form", { class: "inline-form writes", novalidate: true }, name.wrap, extra.map((f) => f.wrap), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setFieldError(name, null);
    const v = name.input.value.trim();
    if (!v) {
      setFieldError(name, o.emptyError);
      name.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const body = Object.fromEntries([[key, v], ...extra.map((f) => [f.input.name, f.input.value])]);
      const made = await post(o.url, body, { idempotent: true });
      name.input.value = "";
      replace(o.created, o.notice(made));
      await o.reload();
    } catch (ex) {
      setFieldError(name, ex.forField ? ex.forField(key) || ex.message : ex.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** A table that stacks into cards on narrow screens: `columns` are the headings (and each cell's
 * label there), `rows` are `{attrs, cells}` with one cell per column. */
export function dataTable({ id, caption, columns, rows }) {
  return h("table", { class: "table stacked", id },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", r.attrs || {}, r.cells.map((c, i) => h("td", { "data-label": columns[i] }, c))))));
}

/** A radio button or a checkbox with its label and an optional hint under the label. */
function choice(type, id, name, value, label, checked, hint) {
  return h(
    "div",
    { class: type === "radio" ? "radio" : "check" },
    h("input", { type, id, name, value, checked }),
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint" }, hint) : null,
  );
}

/** One radio of the group `name` (its id is made of the name and the value). */
export function radio(name, value, label, checked = false, hint = null) {
  return choice("radio", `${name}-${value.replace(/[^a-z0-9]/gi, "-")}`, name, value, label, checked, hint);
}

export function checkbox(id, name, value, label, checked = false, hint = null) {
  return choice("checkbox", id, name, value, label, checked, hint);
}

/** A labelled group of radios or checkboxes with an error line, shaped like `field()` so that
 * `setFieldError` and `showFieldErrors` work on it. */
export function fieldGroup(legend, ...children) {
  const id = uid("grp");
  const error = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const wrap = h("fieldset", { id, class: "radios", "aria-describedby": error.id }, h("legend", {}, legend), children, error);
  return { wrap, input: wrap, error };
}

/** Shows the API's field errors (problem+json `errors`) beside the fields of `fields` (field name ->
 * what `field()` or `fieldGroup()` returned), and the rest in `formErr`; answers the first field
 * with an error, to focus. `ex` null clears them all. */
export function showFieldErrors(ex, fields, formErr) {
  const errors = ex instanceof ApiError ? ex.fieldErrors : [];
  let first = null;
  const shown = new Set();
  for (const [name, f] of Object.entries(fields)) {
    const mine = ex instanceof ApiError ? ex.errorsOf(name) : [];
    setFieldError(f, mine.length ? ex.forField(name) : null);
    mine.forEach((e) => shown.add(e));
    if (mine.length && !first) first = f.input;
  }
  const rest = errors.filter((e) => !shown.has(e));
  formErr.set(rest.length ? rest.map((e) => `${e.field}: ${e.detail}`).join("; ") : first || !ex ? null : ex.message);
  return first;
}
