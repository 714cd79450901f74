// Drives the dashboard that `inlet` carries in its binary (tests/embedded_dashboard.rs starts it in
// an empty directory) in headless Chromium:
//
//   node embedded.mjs --base http://127.0.0.1:PORT --email E --password P --publish rtmp://…/live/KEY
//
// The API reference at /docs: loads with no console error, lists every operation of
// /v1/openapi.json grouped by tag (POST /v1/streams and POST /v1/webhooks among them) with their
// request bodies and responses resolved from their $refs, filters, and is linked from the
// dashboard. The live preview: with ffmpeg publishing to the stream `demo`, it plays through the
// embedded hls.js (video.currentTime advances); then, in a second page whose requests for hls.js
// get the stub a web directory without it serves, it says why there is no preview and shows the
// playback URL, and never claims native HLS (Chromium answers canPlayType "maybe" but cannot play
// our MPEG-TS HLS).
// Prints one JSON line {"ok": bool, "steps": [...], "consoleErrors": [...], ...}; exits 0 only when ok.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { LAUNCH_ARGS, check, createRun, finish, parseArgs, previewState, publish, recordFailure, sleep, waitForPlayback } from "./harness.mjs";

/** What a web directory without the player serves at its path (api/src/http/web.rs, HLS_STUB). */
const STUB = "/* hls.js is missing */\nself.inletHlsMissing = true;\n";

const { result, step } = createRun();

const redact = (s) => String(s).replace(/(sk_[A-Za-z0-9]{10}_)[A-Za-z0-9]+/g, "$1…");

/** Collects the console errors and uncaught errors of `page`, named by `label`. */
function watch(page, label) {
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => {
    if (m.type() === "error") result.consoleErrors.push(redact(`${label} ${new URL(page.url()).pathname}${new URL(page.url()).hash}: ${m.text()}`).slice(0, 400));
  });
  page.on("pageerror", (e) => result.pageErrors.push(redact(`${label}: ${e.message}`).slice(0, 400)));
}

async function main() {
  const started = Date.now();
  const opts = parseArgs(process.argv.slice(2), ["base", "email", "password", "publish"]);
  const base = opts.base.replace(/\/$/, "");
  const profile = mkdtempSync(join(tmpdir(), "inlet-embedded-chromium-"));
  let context;
  let ffmpeg;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: LAUNCH_ARGS,
      viewport: { width: 1280, height: 860 },
      timeout: 30_000,
    });
    result.browserVersion = context.browser()?.version() ?? null;
    const page = context.pages()[0] ?? (await context.newPage());
    watch(page, "page");

    // --- the API reference
    const spec = await (await fetch(`${base}/v1/openapi.json`)).json();
    const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.keys(item).filter((m) => ["get", "post", "put", "patch", "delete"].includes(m)).map((m) => `${m.toUpperCase()} ${path}`));
    await step("/docs loads under the dashboard's CSP and lists every operation of the OpenAPI document", async () => {
      const resp = await page.goto(`${base}/docs`, { waitUntil: "load" });
      const csp = resp.headers()["content-security-policy"] || "";
      check(resp.status() === 200 && csp.includes("script-src 'self'") && !/unsafe/.test(csp), `status ${resp.status()}, CSP ${csp}`);
      await page.waitForFunction(() => document.body.dataset.ready === "true");
      const listed = await page.$$eval(".docs-op .docs-op-title", (els) => els.map((e) => e.textContent.replace(/\s+/g, " ").trim()));
      for (const op of ["POST /v1/streams", "POST /v1/webhooks", "GET /v1/openapi.json"]) check(listed.includes(op), `${op} is not listed: ${listed.join(", ")}`);
      const missing = operations.filter((op) => !listed.includes(op));
      check(missing.length === 0 && listed.length === operations.length, `listed ${listed.length} of ${operations.length}; missing ${missing.join(", ")}`);
      const tags = await page.$$eval(".docs-tag > h2", (els) => els.map((e) => e.textContent));
      check(tags[0] === "streams" && tags.includes("webhooks"), `tags: ${tags}`);
      result.checks.docs = { operations: listed.length, tags };
      return result.checks.docs;
    });
    await step("/docs: POST /v1/streams shows its parameters, request body and responses with $refs resolved", async () => {
      const op = page.locator("#op-post-v1-streams");
      const text = (await op.innerText()).replace(/\s+/g, " ");
      for (const want of ["Create a stream", "Idempotency-Key", "header", "Request body", "application/json", "StreamSettings", "reconnect_window_seconds", "201 Created", "StreamCreated", "422 Unprocessable Content", "Problem", "API token (Authorization: Bearer inlet_…)"]) {
        check(text.includes(want), `POST /v1/streams lacks "${want}": ${text.slice(0, 600)}`);
      }
      // A nested $ref (StreamCreated.stream → StreamView) opens to its own fields.
      const summary = op.locator("summary", { hasText: "Fields of stream (StreamView)" });
      await summary.click();
      const inner = (await summary.locator("xpath=..").innerText()).replace(/\s+/g, " ");
      check(/ingest/.test(inner) && /created_at/.test(inner), `StreamView fields: ${inner.slice(0, 300)}`);
      const webhooks = (await page.locator("#op-post-v1-webhooks").innerText()).replace(/\s+/g, " ");
      check(webhooks.includes("WebhookSettings") && webhooks.includes("WebhookWithSecret") && webhooks.includes("secret"), `POST /v1/webhooks: ${webhooks.slice(0, 400)}`);
      const login = (await page.locator("#op-post-v1-auth-login").innerText()).replace(/\s+/g, " ");
      check(login.includes("No authentication."), `POST /v1/auth/login: ${login.slice(0, 300)}`);
    });
    await step("/docs: the filter narrows the operations and the table of contents", async () => {
      await page.getByLabel("Filter operations").fill("post webhooks rotate");
      await page.waitForFunction(() => document.getElementById("docs-count").textContent.includes(" of "));
      const visible = await page.$$eval(".docs-op:not([hidden]) .docs-op-title", (els) => els.map((e) => e.textContent.replace(/\s+/g, " ").trim()));
      check(visible.length === 1 && visible[0] === "POST /v1/webhooks/{id}/rotate-secret", `visible: ${visible}`);
      const toc = await page.$$eval("#docs-toc li[data-op]:not([hidden])", (els) => els.length);
      check(toc === 1, `table of contents shows ${toc}`);
      await page.getByLabel("Filter operations").fill("");
      await page.waitForFunction((n) => document.querySelectorAll(".docs-op:not([hidden])").length === n, operations.length);
    });
    await step("/docs#op-… opens at that operation; the page fits 360 px", async () => {
      await page.goto(`${base}/docs#op-post-v1-webhooks`, { waitUntil: "load" });
      await page.waitForFunction(() => document.body.dataset.ready === "true");
      await page.waitForFunction(() => {
        const r = document.getElementById("op-post-v1-webhooks").getBoundingClientRect();
        return r.top >= -2 && r.top < 200;
      });
      await page.setViewportSize({ width: 360, height: 780 });
      await sleep(300);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      await page.setViewportSize({ width: 1280, height: 860 });
      check(width <= 362, `/docs is ${width} px wide at 360 px`);
      return { width };
    });
    await step("the dashboard links to the API reference", async () => {
      await page.goto(`${base}/`, { waitUntil: "load" });
      await page.getByLabel("Email").waitFor();
      await page.getByRole("link", { name: "API reference" }).click();
      await page.waitForURL(`${base}/docs`);
      await page.getByRole("heading", { level: 1, name: "API reference" }).waitFor();
    });

    // --- the preview with the embedded hls.js
    await step("log in", async () => {
      await page.goto(`${base}/`, { waitUntil: "load" });
      await page.getByLabel("Email").fill(opts.email);
      await page.getByLabel("Password").fill(opts.password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { level: 1, name: "Streams" }).waitFor();
    });
    ffmpeg = publish(opts.publish, 120);
    let streamUrl;
    await step("publish to demo with ffmpeg: the stream page shows it live", async () => {
      await page.getByRole("link", { name: "demo", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "demo" }).waitFor();
      streamUrl = page.url();
      await page.locator("#stream-status").getByText("Live", { exact: true }).waitFor({ timeout: 30_000 });
    });
    await step("the preview plays with the hls.js built into the binary", async () => {
      const { last } = await waitForPlayback(page, 40_000);
      check(last.engine === "hls.js" && /^Preview: hls\.js 1\.7\.4\./.test(last.note), `preview: ${JSON.stringify(last)}`);
      result.checks.withHlsJs = last;
      return last;
    });

    // --- the same page where the server has no hls.js
    await step("without hls.js the preview says why and gives the playback URL, never native HLS", async () => {
      const bare = await context.newPage();
      watch(bare, "no-hls.js");
      let stubbed = 0;
      await bare.route("**/vendor/hls.js/hls.light.min.js", (route) => {
        stubbed += 1;
        return route.fulfill({ status: 200, contentType: "text/javascript; charset=utf-8", body: STUB });
      });
      await bare.goto(streamUrl, { waitUntil: "load" });
      await bare.locator("#stream-status").getByText("Live", { exact: true }).waitFor({ timeout: 20_000 });
      await bare.waitForFunction(() => {
        const box = document.querySelector(".player");
        return box && box.dataset.engine;
      }, null, { timeout: 20_000 });
      const state = await previewState(bare);
      const playback = await bare.locator("#playback-url").inputValue();
      const browser = await bare.evaluate(() => ({
        canPlayType: document.createElement("video").canPlayType("application/vnd.apple.mpegurl"),
        vendor: navigator.vendor,
        mediaSource: typeof window.MediaSource !== "undefined",
      }));
      check(stubbed >= 1, "the page did not ask for hls.js");
      check(state.engine === "missing" && state.hidden, `preview: ${JSON.stringify(state)}`);
      check(!/native HLS/.test(state.note), `claims native HLS: ${state.note}`);
      check(state.note.includes("does not serve hls.js") && state.note.includes("INLET_WEB_DIR") && state.note.includes(playback) && /VLC, ffplay or Safari/.test(state.note),
        `the note: ${state.note} (playback URL ${playback})`);
      await bare.close();
      result.checks.withoutHlsJs = { ...state, browser };
      return result.checks.withoutHlsJs;
    });
    await sleep(300);
    result.ok = result.steps.every((s) => s.ok) && result.consoleErrors.length === 0 && result.pageErrors.length === 0;
  } catch (e) {
    await recordFailure(result, e, context && context.pages()[context.pages().length - 1], "embedded", redact);
  } finally {
    if (ffmpeg) ffmpeg.child.kill("SIGKILL");
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    result.elapsedMs = Date.now() - started;
  }
}

await main();
finish(result);
