// Unit tests of web/js/openapi.js (what the API reference page reads from the OpenAPI document)
// and of the preview's engine choice in web/js/player.js, under `node --test`, run by
// tests/embedded_dashboard.rs. The Safari branch of the preview is only reachable here: the
// browser tests drive Chromium.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { deref, groupOperations, normalize, typeLabel, expandable, constraints, securityOf } from "../../web/js/openapi.js";
import { previewEngine, HLS_JS_URL } from "../../web/js/player.js";

const spec = {
  openapi: "3.1.0",
  security: [{ bearer: [] }, { session: [] }],
  tags: [{ name: "streams" }, { name: "meta" }],
  paths: {
    "/v1/streams/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: { tags: ["streams"], summary: "One stream.", responses: { 200: { description: "", content: { "application/json": { schema: { $ref: "#/components/schemas/Stream" } } } } } },
      delete: { tags: ["streams"], responses: { 204: { description: "" } } },
    },
    "/v1/openapi.json": { get: { tags: ["meta"], security: [{}], responses: { 200: { description: "" } } } },
    "/v1/members": { get: { tags: ["members"], responses: { 200: { description: "" } } } },
  },
  components: {
    schemas: {
      Stream: {
        type: "object",
        required: ["id"],
        properties: {
          id: { type: "string" },
          mode: { oneOf: [{ type: "null" }, { $ref: "#/components/schemas/Mode", description: "How it publishes." }] },
          parent: { $ref: "#/components/schemas/Stream" },
          tags: { type: ["array", "null"], items: { type: "string" } },
          seconds: { type: ["integer", "null"], format: "int64", minimum: 0, default: 30 },
          meta: { type: "object", additionalProperties: { type: "string" } },
        },
      },
      Mode: { type: "string", enum: ["key", "token"] },
    },
  },
};

test("operations are grouped by tag in the document's order, path parameters merged, unlisted tags last", () => {
  const groups = groupOperations(spec);
  assert.deepEqual(groups.map((g) => g.name), ["streams", "meta", "members"]);
  const ops = groups[0].ops;
  assert.deepEqual(ops.map((o) => `${o.method} ${o.path}`), ["get /v1/streams/{id}", "delete /v1/streams/{id}"]);
  assert.equal(ops[0].id, "op-get-v1-streams-id");
  assert.deepEqual(ops[1].parameters.map((p) => p.name), ["id"]);
});

test("$refs resolve with their sibling keywords; nullable unions and type arrays normalize", () => {
  assert.equal(deref(spec, { $ref: "#/components/schemas/Mode" }).name, "Mode");
  assert.equal(deref(spec, { $ref: "#/components/schemas/Nope" }).value.unresolved, "#/components/schemas/Nope");
  const props = spec.components.schemas.Stream.properties;
  const mode = normalize(spec, props.mode);
  assert.equal(mode.nullable, true);
  assert.equal(mode.name, "Mode");
  assert.equal(mode.description, "How it publishes.");
  assert.deepEqual(mode.schema.enum, ["key", "token"]);
  assert.equal(typeLabel(spec, mode), "Mode (string)");
  const tags = normalize(spec, props.tags);
  assert.equal(tags.kind, "array");
  assert.equal(tags.nullable, true);
  assert.equal(typeLabel(spec, tags), "array of string");
  const seconds = normalize(spec, props.seconds);
  assert.equal(typeLabel(spec, seconds), "integer (int64)");
  assert.deepEqual(constraints(seconds.schema), ["minimum 0", "default 30"]);
  assert.equal(typeLabel(spec, normalize(spec, props.meta)), "map of string");
  const stream = normalize(spec, { $ref: "#/components/schemas/Stream" });
  assert.equal(stream.kind, "object");
  assert.equal(typeLabel(spec, stream), "Stream");
  assert.ok(expandable(spec, stream));
  assert.ok(!expandable(spec, seconds));
  // A self-reference normalizes without looping (the page shows it once, then names it).
  assert.equal(normalize(spec, props.parent).name, "Stream");
});

test("who may call: the document's schemes, or nobody needed when an operation says [{}]", () => {
  assert.deepEqual(securityOf(spec, spec.paths["/v1/streams/{id}"].get), ["bearer", "session"]);
  assert.deepEqual(securityOf(spec, spec.paths["/v1/openapi.json"].get), []);
});

test("the preview never claims native HLS outside Safari, and says when hls.js is missing", () => {
  assert.equal(HLS_JS_URL, "/vendor/hls.js/hls.light.min.js");
  // Chromium 156 without hls.js: canPlayType says "maybe", yet it cannot play our MPEG-TS HLS.
  assert.equal(previewEngine({ hlsSupported: false, hlsMissing: true, nativeAnswer: "maybe", vendor: "Google Inc." }), "missing");
  assert.equal(previewEngine({ hlsSupported: true, hlsMissing: false, nativeAnswer: "maybe", vendor: "Google Inc." }), "hls.js");
  // Firefox without hls.js.
  assert.equal(previewEngine({ hlsSupported: false, hlsMissing: true, nativeAnswer: "", vendor: "" }), "missing");
  // iOS Safari before 17.1 (no Media Source, so hls.js is not even loaded), and any iOS browser.
  assert.equal(previewEngine({ hlsSupported: false, hlsMissing: false, nativeAnswer: "maybe", vendor: "Apple Computer, Inc." }), "native");
  assert.equal(previewEngine({ hlsSupported: false, hlsMissing: true, nativeAnswer: "probably", vendor: "Apple Computer, Inc." }), "native");
  // macOS Safari with hls.js: hls.js first, as everywhere with Media Source.
  assert.equal(previewEngine({ hlsSupported: true, hlsMissing: false, nativeAnswer: "maybe", vendor: "Apple Computer, Inc." }), "hls.js");
  // Neither Media Source nor native HLS.
  assert.equal(previewEngine({ hlsSupported: false, hlsMissing: false, nativeAnswer: "", vendor: "Google Inc." }), "unsupported");
});

test("the vendored player is where the page loads it from, with its licence", () => {
  const dir = new URL("../../web/vendor/hls.js/", import.meta.url);
  const js = readFileSync(new URL("hls.light.min.js", dir), "utf8");
  assert.ok(js.length > 300_000);
  assert.match(readFileSync(new URL("LICENSE", dir), "utf8"), /Apache License, Version 2\.0/);
});
