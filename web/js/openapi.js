// Reading an OpenAPI 3.1 document for the API reference page (docs.js): operations grouped by tag,
// `$ref`s resolved, schemas normalized into a few shapes (object, array, union, scalar) with their
// nullability, and short type labels. Pure functions, no DOM: unit-tested under node.

const METHODS = ["get", "post", "put", "patch", "delete", "head", "options"];

/** The value at a local JSON pointer (`#/components/schemas/Stream`), or undefined. */
export function resolvePointer(spec, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  let cur = spec;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur === null || typeof cur !== "object" || !(key in cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** Follows `$ref`s (keeping sibling keywords, which 3.1 allows): {value, name} of the last one. */
export function deref(spec, node) {
  let value = node || {};
  let name = null;
  for (let hops = 0; value && value.$ref && hops < 32; hops++) {
    const { $ref, ...siblings } = value;
    const target = resolvePointer(spec, $ref);
    name = $ref.split("/").pop();
    if (target === undefined) return { value: { ...siblings, unresolved: $ref }, name };
    value = { ...target, ...siblings };
  }
  return { value: value || {}, name };
}

/** Every operation, with its path-level parameters merged in, grouped by tag in the document's order. */
export function groupOperations(spec) {
  const groups = new Map();
  for (const t of spec.tags || []) groups.set(t.name, { name: t.name, description: t.description || "", ops: [] });
  for (const [path, item] of Object.entries(spec.paths || {})) {
    const shared = item.parameters || [];
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = new Map();
      for (const p of [...shared, ...(op.parameters || [])]) {
        const v = deref(spec, p).value;
        params.set(`${v.in}:${v.name}`, v);
      }
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, { name: tag, description: "", ops: [] });
      groups.get(tag).ops.push({
        method,
        path,
        id: `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "")}`,
        op,
        parameters: [...params.values()],
      });
    }
  }
  return [...groups.values()].filter((g) => g.ops.length > 0);
}

/**
 * A schema in one of a few shapes: {kind: "object"|"array"|"union"|"scalar", name, nullable,
 * description, schema, ...}: `oneOf`/`anyOf` with `null` become nullable, `allOf` is merged,
 * `type: [t, "null"]` is t nullable.
 */
export function normalize(spec, node) {
  const { value: s, name } = deref(spec, node);
  const alts = s.oneOf || s.anyOf;
  if (alts) {
    const isNull = (a) => deref(spec, a).value.type === "null";
    const rest = alts.filter((a) => !isNull(a));
    const nullable = rest.length < alts.length;
    if (rest.length === 1) {
      const inner = normalize(spec, rest[0]);
      return { ...inner, nullable: nullable || inner.nullable, description: s.description || inner.description };
    }
    return { kind: "union", name, nullable, description: s.description || "", schema: s, variants: rest, combinator: s.oneOf ? "one of" : "any of" };
  }
  if (s.allOf) {
    const merged = { type: "object", properties: {}, required: [] };
    for (const part of s.allOf) {
      const v = normalize(spec, part).schema;
      Object.assign(merged.properties, v.properties || {});
      merged.required.push(...(v.required || []));
    }
    const { allOf: _all, ...rest } = s;
    return normalize(spec, { ...rest, ...merged, properties: { ...merged.properties, ...(s.properties || {}) } });
  }
  let types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const nullable = types.includes("null") || s.nullable === true;
  types = types.filter((t) => t !== "null");
  const base = { name, nullable, description: s.description || "", schema: s, types };
  if (types.includes("array") || s.items) return { ...base, kind: "array", items: s.items || {} };
  if (types.includes("object") || s.properties || (s.additionalProperties && typeof s.additionalProperties === "object")) {
    return { ...base, kind: "object" };
  }
  return { ...base, kind: "scalar" };
}

/** A short type label: `StreamView`, `array of KeyView`, `string (date-time)`, `map of string`. */
export function typeLabel(spec, n, depth = 0) {
  if (depth > 6) return "…";
  if (n.name && n.kind !== "scalar") return n.name;
  if (n.kind === "array") return `array of ${typeLabel(spec, normalize(spec, n.items), depth + 1)}`;
  if (n.kind === "union") return n.variants.map((v) => typeLabel(spec, normalize(spec, v), depth + 1)).join(" | ");
  if (n.kind === "object") {
    const extra = n.schema.additionalProperties;
    if (!n.schema.properties && extra && typeof extra === "object") return `map of ${typeLabel(spec, normalize(spec, extra), depth + 1)}`;
    return "object";
  }
  const s = n.schema;
  let t = n.types.length ? n.types.join(" | ") : s.const !== undefined ? "constant" : "any";
  if (s.format) t += ` (${s.format})`;
  return n.name ? `${n.name} (${t})` : t;
}

/** Whether a normalized schema has structure worth expanding (fields, items with fields, variants). */
export function expandable(spec, n, depth = 0) {
  if (depth > 6) return false;
  if (n.kind === "object") {
    const extra = n.schema.additionalProperties;
    return !!(n.schema.properties && Object.keys(n.schema.properties).length) || !!(extra && typeof extra === "object" && expandable(spec, normalize(spec, extra), depth + 1));
  }
  if (n.kind === "array") return expandable(spec, normalize(spec, n.items), depth + 1);
  if (n.kind === "union") return true;
  return false;
}

/** The constraints of a schema in words: `minimum 0`, `default 30`, `1–100 characters`… */
export function constraints(s) {
  const out = [];
  const val = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  if (s.minimum !== undefined) out.push(`minimum ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`more than ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) out.push(`maximum ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) out.push(`less than ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined) out.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} items`);
  if (s.maxItems !== undefined) out.push(`at most ${s.maxItems} items`);
  if (s.uniqueItems) out.push("unique items");
  if (s.pattern !== undefined) out.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) out.push(`default ${val(s.default)}`);
  if (s.const !== undefined) out.push(`always ${val(s.const)}`);
  if (s.example !== undefined) out.push(`example ${val(s.example)}`);
  if (s.readOnly) out.push("read-only");
  if (s.writeOnly) out.push("write-only");
  if (s.deprecated) out.push("deprecated");
  return out;
}

/** Who may call an operation, from its `security` (or the document's): scheme names, [] = anyone. */
export function securityOf(spec, op) {
  const reqs = op.security !== undefined ? op.security : spec.security || [];
  if (reqs.length === 0 || reqs.some((r) => Object.keys(r).length === 0)) return [];
  return [...new Set(reqs.flatMap((r) => Object.keys(r)))];
}
