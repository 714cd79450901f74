// DOM helpers: build elements without innerHTML (every value is text, so nothing the API returns
// can become markup), announce to screen readers, copy to the clipboard, format times.

let nextId = 0;

/** A unique element id, for label/for and aria-describedby pairs. */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Copy"}, "Copy")
 * Attributes: `class`, `text`, `on<event>` handlers, `dataset`, booleans (true sets, false omits),
 * anything else as an attribute. Children: nodes, strings, numbers, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" && "value" in el && !tag.startsWith("svg:")) el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled") {
      el[k] = !!v;
      if (v && k === "disabled") el.setAttribute("disabled", "");
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Appends nodes, strings, numbers and (nested) arrays of them; null and false are skipped. */
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A new text node after a tick is announced even when the text repeats.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** A short-lived message at the bottom of the page (also announced). */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 9000 : 5000);
}

/** Copies text: the async clipboard where allowed (https or localhost), else a selection copy. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      // Denied (no focus, no permission): fall through to the selection copy.
    }
  }
  const ta = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (_) {
    ok = false;
  }
  ta.remove();
  return ok;
}

/**
 * A "Copy" button. `what` names the thing for its accessible name ("Copy Server"); `get` returns
 * the text at click time.
 */
export function copyButton(what, get, opts = {}) {
  const btn = h("button", {
    type: "button",
    class: `copy ${opts.class || ""}`.trim(),
    "aria-label": `Copy ${what}`,
  }, opts.label || "Copy");
  btn.addEventListener("click", async () => {
    const text = get();
    if (!text) return;
    const ok = await copyText(text);
    const label = opts.label || "Copy";
    btn.textContent = ok ? "Copied" : "Copy failed";
    btn.classList.toggle("copied", ok);
    announce(ok ? `${what} copied to the clipboard` : `Could not copy ${what}; select the text and copy it by hand`);
    setTimeout(() => {
      btn.textContent = label;
      btn.classList.remove("copied");
    }, 2000);
  });
  return btn;
}

const dateTime = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
};

/** "25 Nov 2026, 08:15:03" in the viewer's time zone; "—" for null. */
export function fmtTime(iso) {
  const d = iso && dateTime(iso);
  if (!d) return "—";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** "08:15:03" */
export function fmtClock(iso) {
  const d = iso && dateTime(iso);
  if (!d) return "—";
  return d.toLocaleTimeString(undefined, { timeStyle: "medium" });
}

/** "3 min ago", "in 4 min", "just now" */
export function fmtRelative(iso, now = Date.now()) {
  const d = iso && dateTime(iso);
  if (!d) return "—";
  const s = Math.round((d.getTime() - now) / 1000);
  const a = Math.abs(s);
  let text;
  if (a < 10) return "just now";
  if (a < 90) text = `${a} s`;
  else if (a < 5400) text = `${Math.round(a / 60)} min`;
  else if (a < 129600) text = `${Math.round(a / 3600)} h`;
  else text = `${Math.round(a / 86400)} days`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}

/** A <time> element with the exact time in its title and datetime. */
export function timeEl(iso, style = "full") {
  if (!iso) return h("span", { class: "muted" }, "—");
  const text = style === "relative" ? fmtRelative(iso) : style === "clock" ? fmtClock(iso) : fmtTime(iso);
  return h("time", { datetime: iso, title: fmtTime(iso) }, text);
}

/** "1 h 02 min", "3 min 10 s", "12 s" */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

export function fmtBytes(n) {
  const v = Number(n) || 0;
  if (v < 1024) return `${v} B`;
  if (v < 1024 ** 2) return `${(v / 1024).toFixed(1)} KiB`;
  if (v < 1024 ** 3) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  return `${(v / 1024 ** 3).toFixed(2)} GiB`;
}

/** A random UUID v4 (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function randomUuid() {
  if (crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Runs `fn` now and then every `ms` while the page is visible, never two at a time. Returns stop().
 */
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  let running = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (document.hidden) {
      timer = setTimeout(tick, ms);
      return;
    }
    running = true;
    try {
      await fn();
    } catch (_) {
      // The page shows its own error state; keep polling.
    }
    running = false;
    if (!stopped) timer = setTimeout(tick, ms);
  };
  const onVisible = () => {
    if (!document.hidden && timer !== null && !running) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}

/** A labelled form field: returns {wrap, input, hint, error}. */
export function field(label, input, hintText) {
  const id = input.id || uid("in");
  input.id = id;
  const hint = hintText ? h("p", { class: "hint", id: `${id}-hint` }, hintText) : null;
  const error = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const described = [hint ? hint.id : null, error.id].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, hint, error);
  return { wrap, input, hint, error };
}

/** Shows (or clears, with null) an error under a field built by field(). */
export function setFieldError(f, text) {
  if (text) {
    f.error.textContent = text;
    f.error.hidden = false;
    f.input.setAttribute("aria-invalid", "true");
  } else {
    f.error.textContent = "";
    f.error.hidden = true;
    f.input.removeAttribute("aria-invalid");
  }
}

/** A status badge: live / idle / disabled / accepted / refused / key statuses. */
export function badge(kind, text) {
  return h("span", { class: `badge badge-${kind}` }, text || kind);
}

/**
 * Re-renders `container` only when `signature` changed, and gives the focus back to the element
 * with the same `data-fk` (focus key): polling must not pull the focus from a keyboard user.
 */
export function stableRender(container, signature, build) {
  if (container.dataset.sig === signature) return false;
  const active = document.activeElement;
  const fk = active && container.contains(active) ? active.dataset.fk : null;
  replace(container, build());
  container.dataset.sig = signature;
  if (fk) {
    const again = container.querySelector(`[data-fk="${CSS.escape(fk)}"]`);
    if (again) again.focus();
  }
  return true;
}
