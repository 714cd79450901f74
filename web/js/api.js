// The REST API as the dashboard calls it: same-origin fetch with the session cookie, the CSRF header
// on every write (the token from the login answer or GET /v1/me, kept in memory only), an
// Idempotency-Key on creating calls, and RFC 9457 problems turned into ApiError.

import { randomUuid } from "./dom.js";

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token || null;
}

export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.problem = p;
    /** @type {Array<{field: string, detail: string}>} */
    this.fieldErrors = Array.isArray(p.errors) ? p.errors : [];
  }

  /** The errors of one field, or of what is under it (`limits.max_fps`, `ip_allowlist[2]`...). */
  errorsOf(prefix) {
    return this.fieldErrors.filter((e) => e.field === prefix || e.field.startsWith(`${prefix}.`) || e.field.startsWith(`${prefix}[`));
  }

  /** The detail for one field (`name`, `limits.max_fps`, `ip_allowlist[2]`...), if any. */
  forField(prefix) {
    return this.errorsOf(prefix)
      .map((e) => `${e.field}: ${e.detail}`)
      .join("; ");
  }
}

/** Sent when a call answers 401: the session is over. */
export const UNAUTHORIZED_EVENT = "inlet:unauthorized";

/**
 * Calls the API.
 * @param {string} method
 * @param {string} path e.g. `/v1/streams`
 * @param {any} [body] JSON body
 * @param {{idempotent?: boolean, quiet401?: boolean}} [opts]
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD", "OPTIONS"].includes(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (opts.idempotent) headers["Idempotency-Key"] = randomUuid();
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { title: "Network error", detail: "The API could not be reached. Check your connection and retry." });
  }
  if (resp.status === 204) return null;
  let data = null;
  const type = resp.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      data = await resp.json();
    } catch (_) {
      data = null;
    }
  }
  if (!resp.ok) {
    if (resp.status === 401 && !opts.quiet401) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
    }
    if (resp.status === 429) {
      const after = resp.headers.get("retry-after");
      throw new ApiError(429, { ...(data || {}), detail: `Too many requests; retry in ${after || "a few"} s.` });
    }
    throw new ApiError(resp.status, data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body, opts) => api("POST", path, body, opts);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** Every page of a list, up to `max` items. */
export async function all(path, max = 500) {
  const out = [];
  let cursor = null;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    out.push(...page.data);
    cursor = page.next_cursor;
    if (!cursor || out.length >= max) return out;
  }
}
