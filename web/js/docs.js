// The API reference page (/docs, web/docs.html): fetches /v1/openapi.json and renders every
// operation grouped by tag, with its method, path, summary, who may call it, parameters, request
// body and responses, schemas expanded from their `$ref`s (nested ones behind a <details>). A filter
// narrows the list; the table of contents links to each operation. Text only, never markup from
// the document.

import { h, replace, append } from "./dom.js";
import { deref, groupOperations, normalize, typeLabel, expandable, constraints, securityOf } from "./openapi.js";

const REASONS = {
  200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
  403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content",
  429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
};

const SCHEMES = {
  bearer: "API token (Authorization: Bearer inlet_…)",
  session: "dashboard session cookie (with the X-CSRF-Token header on changes)",
  operator: "operator token (Authorization: Bearer iop_…)",
};

const status = document.getElementById("docs-status");
const root = document.getElementById("docs");
const toc = document.getElementById("docs-toc");
const main = document.getElementById("main");

/** Text with `code` spans, in paragraphs split at blank lines. */
function prose(text, cls = "") {
  if (!text) return null;
  return text.split(/\n\s*\n/).map((para) =>
    h("p", { class: cls || null }, para.split(/(`[^`]+`)/).map((part) =>
      part.startsWith("`") && part.endsWith("`") && part.length > 1 ? h("code", {}, part.slice(1, -1)) : part.replace(/\s*\n\s*/g, " "),
    )),
  );
}

/** The type of a schema with its nullability and enum values, as inline nodes. */
function typeNodes(spec, n) {
  const out = [h("code", { class: "docs-type" }, typeLabel(spec, n))];
  if (n.nullable) out.push(" ", h("span", { class: "chip" }, "or null"));
  const values = n.schema.enum;
  if (values && values.length) {
    out.push(h("span", { class: "docs-enum" }, " one of: ", values.map((v, i) => [i ? ", " : "", h("code", {}, JSON.stringify(v))])));
  }
  return out;
}

/** The structure of a schema: its fields, its items' fields, or its variants. `seen`: refs being expanded. */
function schemaBlock(spec, n, seen) {
  if (n.name && seen.has(n.name)) return h("p", { class: "hint" }, `${n.name} again (see above).`);
  const inner = n.name ? new Set([...seen, n.name]) : seen;
  if (n.kind === "array") {
    const items = normalize(spec, n.items);
    return h("div", { class: "docs-nested" }, h("p", { class: "hint" }, "Each item: ", typeNodes(spec, items)), expandable(spec, items) ? schemaBlock(spec, items, inner) : null);
  }
  if (n.kind === "union") {
    return h("div", { class: "docs-nested" }, h("p", { class: "hint" }, `${n.combinator[0].toUpperCase()}${n.combinator.slice(1)}:`),
      h("ul", { class: "docs-variants" }, n.variants.map((v) => {
        const vn = normalize(spec, v);
        return h("li", {}, typeNodes(spec, vn), prose(vn.description, "hint"), expandable(spec, vn) ? schemaBlock(spec, vn, inner) : null);
      })));
  }
  if (n.kind !== "object") return null;
  const props = n.schema.properties || {};
  const extra = n.schema.additionalProperties;
  const required = new Set(n.schema.required || []);
  const names = Object.keys(props);
  const rows = names.map((name) => {
    const p = normalize(spec, props[name]);
    const more = constraints(p.schema);
    const row = h("tr", {},
      h("th", { scope: "row" }, h("code", {}, name), required.has(name) ? h("span", { class: "docs-required" }, "required") : null),
      h("td", {}, typeNodes(spec, p)),
      h("td", {}, prose(p.description), more.length ? h("p", { class: "hint" }, more.join("; ")) : null));
    if (!expandable(spec, p)) return row;
    // The structure of a nested object goes in a row of its own, folded, under its field.
    return [row, h("tr", { class: "docs-sub" }, h("td", { colspan: "3" },
      h("details", { class: "docs-details" }, h("summary", {}, `Fields of ${name} (${typeLabel(spec, p)})`), schemaBlock(spec, p, inner))))];
  });
  return h("div", { class: "docs-nested" },
    names.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "table docs-fields" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Description"))),
          h("tbody", {}, rows)))
      : null,
    extra && typeof extra === "object"
      ? h("p", { class: "hint" }, names.length ? "Other keys: " : "Any keys, each: ", typeNodes(spec, normalize(spec, extra)))
      : null,
    n.schema.additionalProperties === false && names.length ? h("p", { class: "hint" }, "No other fields are accepted.") : null,
  );
}

/** A request body's or response's content: each media type with its schema. */
function contentBlock(spec, content) {
  return Object.entries(content || {}).map(([type, media]) => {
    const n = normalize(spec, media.schema || {});
    return h("div", { class: "docs-media" },
      h("p", {}, h("code", {}, type), " ", typeNodes(spec, n)),
      prose(n.description, "hint"),
      expandable(spec, n) ? schemaBlock(spec, n, new Set()) : null);
  });
}

function operationSection(spec, o) {
  const { op } = o;
  const schemes = securityOf(spec, op);
  const params = o.parameters;
  const body = op.requestBody ? normalizeBody(spec, op.requestBody) : null;
  return h("section", { class: "card docs-op", id: o.id, dataset: { search: `${o.method} ${o.path} ${op.summary || ""} ${op.operationId || ""}`.toLowerCase() } },
    h("h3", { class: "docs-op-title" }, h("span", { class: `docs-method docs-method-${o.method}` }, o.method.toUpperCase()), " ", h("code", { class: "docs-path" }, o.path)),
    prose(op.summary),
    prose(op.description),
    op.deprecated ? h("p", { class: "warn-text" }, "Deprecated.") : null,
    h("p", { class: "hint" }, schemes.length
      ? ["Authentication: ", schemes.map((s, i) => [i ? " or " : "", SCHEMES[s] || s])]
      : "No authentication."),
    params.length
      ? [h("h4", {}, "Parameters"), h("div", { class: "table-wrap" }, h("table", { class: "table docs-fields" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "In"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Description"))),
          h("tbody", {}, params.map((p) => {
            const n = normalize(spec, p.schema || {});
            const more = constraints(n.schema);
            return h("tr", {},
              h("th", { scope: "row" }, h("code", {}, p.name), p.required ? h("span", { class: "docs-required" }, "required") : null),
              h("td", {}, p.in),
              h("td", {}, typeNodes(spec, n)),
              h("td", {}, prose(p.description || n.description), more.length ? h("p", { class: "hint" }, more.join("; ")) : null));
          }))))]
      : null,
    body
      ? [h("h4", {}, "Request body", body.required ? h("span", { class: "docs-required" }, " required") : null), prose(body.description, "hint"), contentBlock(spec, body.content)]
      : null,
    h("h4", {}, "Responses"),
    h("ul", { class: "docs-responses" }, Object.entries(op.responses || {}).map(([code, r]) => {
      const resp = normalizeBody(spec, r);
      const reason = resp.description || REASONS[code] || "";
      return h("li", { class: `docs-response docs-response-${String(code)[0]}xx` },
        h("p", {}, h("strong", {}, code), reason ? ` ${reason}` : ""),
        resp.content ? contentBlock(spec, resp.content) : null);
    })),
  );
}

/** A request body or response, through its `$ref` if it has one. */
function normalizeBody(spec, b) {
  return deref(spec, b).value;
}

function render(spec) {
  const groups = groupOperations(spec);
  const total = groups.reduce((n, g) => n + g.ops.length, 0);
  const info = spec.info || {};
  const filter = h("input", { type: "search", id: "docs-filter", placeholder: "POST /v1/streams, webhook, rotate…", autocomplete: "off" });
  const shown = h("p", { class: "hint", id: "docs-count", role: "status" }, `${total} operations`);
  const sections = groups.map((g) => h("section", { class: "docs-tag", id: `tag-${g.name}` },
    h("h2", {}, g.name),
    prose(g.description, "lead"),
    g.ops.map((o) => operationSection(spec, o))));
  replace(root,
    h("p", { class: "lead" }, `${info.title || "API"} ${info.version || ""}`.trim(), info.description ? ". " : "", info.description || ""),
    h("p", { class: "hint" }, "Every route of the REST API, generated from the same registrations as the handlers: ",
      h("a", { href: "/v1/openapi.json" }, "/v1/openapi.json"), ` (OpenAPI ${spec.openapi || "3"}). Errors are problem+json bodies (RFC 9457).`),
    h("div", { class: "field docs-filter" }, h("label", { for: "docs-filter" }, "Filter operations"), filter, shown),
    sections);
  replace(toc, h("h2", { class: "docs-toc-title" }, "Operations"), h("ul", {}, groups.map((g) =>
    h("li", { dataset: { tag: g.name } }, h("a", { href: `#tag-${g.name}` }, g.name),
      h("ul", {}, g.ops.map((o) => h("li", { dataset: { op: o.id } },
        h("a", { href: `#${o.id}` }, h("span", { class: `docs-method docs-method-${o.method}` }, o.method.toUpperCase()), " ", o.path))))))));

  filter.addEventListener("input", () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let count = 0;
    for (const sec of root.querySelectorAll(".docs-op")) {
      const hit = words.every((w) => sec.dataset.search.includes(w));
      sec.hidden = !hit;
      const entry = toc.querySelector(`[data-op="${CSS.escape(sec.id)}"]`);
      if (entry) entry.hidden = !hit;
      if (hit) count += 1;
    }
    for (const tag of root.querySelectorAll(".docs-tag")) {
      const any = [...tag.querySelectorAll(".docs-op")].some((s) => !s.hidden);
      tag.hidden = !any;
      const entry = toc.querySelector(`[data-tag="${CSS.escape(tag.id.slice(4))}"]`);
      if (entry) entry.hidden = !any;
    }
    shown.textContent = words.length ? `${count} of ${total} operations` : `${total} operations`;
  });
  return total;
}

async function boot() {
  let spec;
  try {
    const resp = await fetch("/v1/openapi.json", { headers: { accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    spec = await resp.json();
  } catch (e) {
    status.className = "error-state";
    status.setAttribute("role", "alert");
    replace(status, `The OpenAPI document could not be loaded (${e.message}). `, h("a", { href: "/v1/openapi.json" }, "Open it directly"), " or reload.");
    main.removeAttribute("aria-busy");
    return;
  }
  const total = render(spec);
  replace(status, `${total} operations.`);
  status.className = "visually-hidden";
  main.removeAttribute("aria-busy");
  document.body.dataset.ready = "true";
  // The sections exist only now: go to the operation the URL names.
  if (location.hash.length > 1) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }
}

boot().catch((e) => {
  append(status, ` ${e.message || e}`);
});
