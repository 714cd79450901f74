// Drives the Inlet dashboard in headless Chromium against a real `inlet`, as a customer would:
//
//   node dashboard.mjs --base http://127.0.0.1:PORT --email E --password P --screenshots DIR
//
// Logs in; creates a stream; clicks Copy on Server and Stream Key and checks the clipboard holds
// exactly what the API answered; publishes with ffmpeg using those two copied values; waits for
// the status to turn live and the preview's video.currentTime to advance; rotates the key with
// grace "now" and "disconnect the live publisher", sees ffmpeg cut, retries with the old key and
// finds the refusal explained in plain words; edits the stream's allowlist to exclude 127.0.0.1
// and finds that refusal explained; visits every page, saving screenshots into DIR; checks focus
// order and 360 px layout; and fails on any console error or uncaught page error.
// Webhooks: a receiver in this script (node:http, answering 200 to every POST) gets an endpoint
// added on the Webhooks page (a bad URL first, refused beside its field); the secret is shown once
// and signs every request the receiver gets (Standard Webhooks, checked here); Test shows the
// receiver's answer; the deliveries list shows the test and the stream's events, filters by
// status and redelivers; the secret is rotated with a grace (both signatures), the endpoint
// disabled and enabled; a filtered second endpoint is added and deleted. The stream's Events tab
// shows its timeline (created, connected, active, key rotated, idle, rejected) in words.
// Members: a viewer is invited (the password link shown once and copied), an admin invited, made
// viewer through the role dialog and removed; logged out, the link opens the Choose a password page,
// which refuses a short password beside the field and then logs the viewer in, who sees no button
// that writes.
// Prints one JSON line {"ok": bool, "steps": [...], "consoleErrors": [...], ...}; exits 0 only when ok.

import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { LAUNCH_ARGS, check, createRun, finish, parseArgs, publish, recordFailure, sleep, waitForPlayback } from "./harness.mjs";

const { result, step } = createRun({ httpErrors: [], a11y: [], ffmpeg: [], screenshots: [] });

/** Redacts the secret part of keys, tokens and webhook secrets before anything is printed. */
const redact = (s) => String(s)
  .replace(/(sk_[A-Za-z0-9]{10}_)[A-Za-z0-9]+/g, "$1…")
  .replace(/(inlet_[A-Za-z0-9]{10}_)[A-Za-z0-9]+/g, "$1…")
  .replace(/(rst_[A-Za-z0-9]{10}_)[A-Za-z0-9]+/g, "$1…")
  .replace(/whsec_[A-Za-z0-9+/=]+/g, "whsec_…");

/** A webhook receiver on 127.0.0.1 that answers 200 to every request and keeps what it got. */
async function startReceiver() {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let event = null;
      try {
        event = JSON.parse(body);
      } catch (_) {
        event = null;
      }
      got.push({ method: req.method, path: req.url, headers: req.headers, body, event });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ received: true, by: "dashboard.mjs" }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks/inlet`,
    got,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Whether a request carries a Standard Webhooks signature (`webhook-signature`) made with `secret`. */
function signedWith(req, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = `${req.headers["webhook-id"]}.${req.headers["webhook-timestamp"]}.${req.body}`;
  const mac = createHmac("sha256", key).update(signed).digest("base64");
  return String(req.headers["webhook-signature"] || "").split(" ").includes(`v1,${mac}`);
}

async function main() {
  const started = Date.now();
  const opts = parseArgs(process.argv.slice(2), ["base", "email", "password", "screenshots"]);
  const base = opts.base.replace(/\/$/, "");
  mkdirSync(opts.screenshots, { recursive: true });
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const profile = mkdtempSync(join(tmpdir(), "inlet-dashboard-chromium-"));
  const publishers = [];
  const receiver = await startReceiver();
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: LAUNCH_ARGS,
      viewport: { width: 1280, height: 860 },
      deviceScaleFactor: 1,
      timeout: 30_000,
    });
    result.browserVersion = context.browser()?.version() ?? null;
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    const where = () => new URL(page.url()).hash || "/";
    // Answers the scenario provokes on purpose (status and path), once each: the browser logs
    // "Failed to load resource" for them, which is no error of the dashboard.
    const expected = [];
    const expectHttpError = (status, path) => expected.push({ status, path });
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      const loc = m.location() && m.location().url ? new URL(m.location().url).pathname : "";
      const i = expected.findIndex((x) => loc === x.path && m.text().includes(`status of ${x.status}`));
      if (i >= 0) {
        expected.splice(i, 1);
        return;
      }
      result.consoleErrors.push(redact(`${where()}: ${m.text()}`).slice(0, 400));
    });
    page.on("pageerror", (e) => result.pageErrors.push(redact(`${where()}: ${e.message}`).slice(0, 400)));
    page.on("response", (r) => {
      if (r.status() >= 400) result.httpErrors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    });

    // Every control has a label (or an aria-label), every button a name, ids are unique.
    const auditControls = async (name) => {
      const problems = await page.evaluate(() => {
        const out = [];
        const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
        for (const el of document.querySelectorAll("input, select, textarea")) {
          if (el.type === "hidden" || el.classList.contains("offscreen")) continue;
          const named = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
          if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id || "?"}`);
        }
        for (const el of document.querySelectorAll("button, a[href]")) {
          if (!visible(el)) continue;
          if (!(el.getAttribute("aria-label") || el.textContent.trim())) out.push(`nameless ${el.tagName.toLowerCase()}`);
        }
        const ids = new Map();
        for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
        for (const [id, n] of ids) if (n > 1) out.push(`duplicate id ${id}`);
        return out;
      });
      if (problems.length) result.a11y.push(`${name}: ${problems.join(", ")}`);
    };
    const shot = async (name, o = {}) => {
      await auditControls(name);
      const path = join(opts.screenshots, `${name}.png`);
      // Let the last poll land and the caret stop blinking into the picture; toasts are transient.
      await page.evaluate(() => {
        if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
        window.getSelection().removeAllRanges();
        document.querySelectorAll(".toast").forEach((t) => t.remove());
      });
      await page.screenshot({ path, fullPage: o.fullPage ?? true, animations: "disabled", caret: "hide" });
      result.screenshots.push(`${name}.png`);
    };
    const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
    // From the page's heading, Tab until the control named `label` has the focus, which must show.
    const tabTo = async (label, most = 60) => {
      await page.getByRole("heading", { level: 1 }).focus();
      for (let i = 0; i < most; i++) {
        await page.keyboard.press("Tab");
        const info = await page.evaluate(() => {
          const el = document.activeElement;
          const cs = getComputedStyle(el);
          return { label: el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40), outline: cs.outlineStyle, width: cs.outlineWidth };
        });
        if (info.label === label) {
          check(info.outline !== "none" && info.width !== "0px", `no visible focus: ${JSON.stringify(info)}`);
          return { ...info, tabs: i + 1 };
        }
      }
      throw new Error(`Tab never reached ${label}`);
    };
    const waitFor = async (what, fn, ms = 15_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(200);
      }
    };
    const narrow = async (what) => {
      await page.setViewportSize({ width: 360, height: 780 });
      await sleep(300);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      await page.setViewportSize({ width: 1280, height: 860 });
      check(width <= 362, `${what} is ${width} px wide at a 360 px viewport`);
      return width;
    };
    const go = async (hash) => {
      await page.evaluate((hsh) => {
        location.hash = hsh;
      }, hash);
      await page.waitForFunction((hsh) => location.hash === hsh, hash);
    };

    // --- log in
    await step("login page is served with the security headers", async () => {
      const resp = await page.goto(`${base}/`, { waitUntil: "load" });
      const csp = resp.headers()["content-security-policy"] || "";
      check(csp.includes("default-src 'self'") && csp.includes("frame-ancestors 'none'"), `CSP: ${csp}`);
      check(!/unsafe-(inline|eval)/.test(csp), `CSP allows unsafe code: ${csp}`);
      result.checks.csp = csp;
      await page.getByLabel("Email").waitFor();
      await shot("login", { fullPage: false });
    });
    await step("log in", async () => {
      await page.getByLabel("Email").fill(opts.email);
      await page.getByLabel("Password").fill(opts.password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { level: 1, name: "Streams" }).waitFor();
    });

    // --- a webhook endpoint pointing at the receiver, before the stream exists: it gets all of it
    await step("webhooks: a URL the API refuses is explained beside the field", async () => {
      await go("#/webhooks");
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();
      await page.getByText("No endpoints yet.").waitFor();
      await page.getByLabel("Endpoint URL").fill("ftp://example.com/hooks");
      expectHttpError(422, "/v1/webhooks");
      const answer = page.waitForResponse((r) => r.url().endsWith("/v1/webhooks") && r.request().method() === "POST");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      check((await answer).status() === 422, "a bad URL was accepted");
      const err = page.locator("#webhook-url-err");
      await err.waitFor();
      const text = await err.innerText();
      check(/^url: must start with https:\/\//.test(text), `URL error: ${text}`);
      check((await page.getByLabel("Endpoint URL").getAttribute("aria-invalid")) === "true", "the URL field is not marked invalid");
      return text;
    });
    let hook;
    let secret;
    await step("webhooks: add an endpoint; its signing secret is shown once", async () => {
      await page.getByLabel("Endpoint URL").fill(receiver.url);
      await page.getByLabel("Description (optional)").fill("dashboard.mjs receiver");
      check(await page.getByLabel("All events, including types added later").isChecked(), "all events is not the default");
      const answer = page.waitForResponse((r) => r.url().endsWith("/v1/webhooks") && r.request().method() === "POST");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      const resp = await answer;
      check(resp.status() === 201, `POST /v1/webhooks answered ${resp.status()}`);
      const made = await resp.json();
      hook = made.webhook;
      const sent = resp.request().postDataJSON();
      check(sent.events === null && sent.stream_ids === null && sent.ordering === "none", `create body: ${JSON.stringify(sent)}`);
      await page.waitForFunction((id) => location.hash === `#/webhooks/${id}`, hook.id);
      const field = page.locator("#webhook-secret");
      await field.waitFor();
      check(/^whsec_•+$/.test(await field.inputValue()), "the secret is not masked");
      check(!page.url().includes("whsec_"), "the secret is in the URL");
      await page.getByRole("button", { name: "Copy Signing secret" }).click();
      secret = await clipboard();
      check(secret === made.secret && /^whsec_/.test(secret), "copied secret differs from the API's secret");
      await page.getByRole("button", { name: "Show Signing secret" }).click();
      check((await field.inputValue()) === secret, "Show does not reveal the secret");
      await page.getByRole("button", { name: "Hide Signing secret" }).click();
      return { id: hook.id };
    });
    await step("webhooks: Send test event (keyboard) shows the receiver's answer", async () => {
      const found = await tabTo("Send test event");
      const answer = page.waitForResponse((r) => r.url().endsWith(`/v1/webhooks/${hook.id}/test`));
      await page.keyboard.press("Enter");
      const r = await (await answer).json();
      const box = page.locator("#webhook-test-result");
      await box.getByText("Succeeded").waitFor();
      const text = await box.innerText();
      check(r.succeeded && r.status_code === 200, `test answer: ${JSON.stringify(r)}`);
      check(text.includes("HTTP 200") && text.includes(`${r.latency_ms} ms`) && text.includes(r.event_id) && text.includes("dashboard.mjs"), `test result: ${text}`);
      const got = receiver.got.find((x) => x.event && x.event.id === r.event_id);
      check(got && got.event.type === "webhook.test" && got.headers["webhook-id"] === r.event_id, "the receiver did not get the test event");
      check(signedWith(got, secret), "the test event is not signed with the secret shown");
      return { tabs: found.tabs, latencyMs: r.latency_ms };
    });
    await step("webhooks: the test shows in the deliveries list", async () => {
      const row = page.locator('#deliveries-table tr[data-event-type="webhook.test"]');
      await row.first().waitFor();
      const text = await row.first().innerText();
      check(/HTTP 200/.test(text) && /#1/.test(text) && /succeeded/.test(text), `delivery row: ${text}`);
      return text.replace(/\s+/g, " ");
    });

    // --- create a stream
    let created;
    await step("create a stream", async () => {
      await go("#/streams");
      await page.getByRole("link", { name: "New stream" }).first().click();
      await page.getByLabel("Name", { exact: true }).fill("studio-a");
      const answer = page.waitForResponse((r) => r.url().endsWith("/v1/streams") && r.request().method() === "POST");
      await page.getByRole("button", { name: "Create stream" }).click();
      const resp = await answer;
      check(resp.status() === 201, `POST /v1/streams answered ${resp.status()}`);
      created = await resp.json();
      await page.getByRole("heading", { level: 1, name: "studio-a" }).waitFor();
      check(/^#\/streams\/[0-9a-f-]{36}$/.test(where()), `URL after create: ${where()}`);
      return { id: created.stream.id };
    });
    const streamId = created.stream.id;
    const apiServer = created.stream.ingest.rtmp.server;
    const apiKey = created.stream_key;

    let copiedServer;
    let copiedKey;
    await step("copy Server and Stream Key: the clipboard holds what the API answered", async () => {
      await page.getByText("In OBS: Settings → Stream → Service: Custom").waitFor();
      await page.getByText("Output Mode: Advanced → Streaming → Keyframe Interval: 2 s").waitFor();
      const keyField = page.getByLabel("Stream Key", { exact: true });
      check((await keyField.inputValue()) !== apiKey, "the key is shown unmasked by default");
      check(!page.url().includes(apiKey.slice(14)), "the key is in the URL");
      await page.getByRole("button", { name: "Copy Server" }).click();
      await page.getByRole("button", { name: "Copy Server" }).filter({ hasText: "Copied" }).waitFor();
      copiedServer = await clipboard();
      check(copiedServer === apiServer, `copied Server ${copiedServer} != API ${apiServer}`);
      await page.getByRole("button", { name: "Copy Stream Key" }).click();
      copiedKey = await clipboard();
      check(copiedKey === apiKey, "copied Stream Key differs from the API's stream_key");
      await page.getByRole("button", { name: "Show Stream Key" }).click();
      check((await keyField.inputValue()) === apiKey, "Show does not reveal the full key");
      await page.getByRole("button", { name: "Hide Stream Key" }).click();
      result.checks.copiedServer = copiedServer;
      await shot("stream-created");
    });

    await step("RTMPS switch changes the Server field", async () => {
      await page.getByText("RTMPS (TLS)").click();
      const v = await page.getByLabel("Server", { exact: true }).inputValue();
      check(v === created.stream.ingest.rtmps.server, `RTMPS server ${v}`);
      await page.getByText("RTMP", { exact: true }).click();
      check((await page.getByLabel("Server", { exact: true }).inputValue()) === apiServer, "back to RTMP");
    });

    await step("keyboard only: Tab reaches Copy Server, Enter copies, focus is visible", async () => {
      await page.evaluate(() => navigator.clipboard.writeText(""));
      const found = await tabTo("Copy Server");
      await page.keyboard.press("Enter");
      await page.getByRole("button", { name: "Copy Server" }).filter({ hasText: "Copied" }).waitFor();
      check((await clipboard()) === apiServer, "Enter on Copy Server did not copy");
      return found;
    });

    // --- publish with exactly the two copied values
    const first = publish(`${copiedServer}/${copiedKey}`, 90);
    publishers.push(first);
    await step("publish with ffmpeg: status turns live", async () => {
      await page.locator("#stream-status").getByText("Live", { exact: true }).waitFor({ timeout: 20_000 });
    });
    await step("the preview plays: video.currentTime advances", async () => {
      const { startTime, last } = await waitForPlayback(page, 35_000);
      result.checks.preview = { startTime, currentTime: last.t, note: last.note };
      return result.checks.preview;
    });
    await step("health beside the limits, and the bitrate chart", async () => {
      await page.locator("#health-table").waitFor({ timeout: 15_000 });
      const text = await page.locator("#health-table").innerText();
      check(/kbit\/s/.test(text) && /640×360/.test(text) && /fps/.test(text), `health table: ${text}`);
      await page.locator(".chart .line").waitFor({ timeout: 15_000 });
      await page.waitForFunction(() => {
        const svg = document.querySelector(".chart");
        const m = svg && /(\d+) measurements/.exec(svg.getAttribute("aria-label") || "");
        return m && Number(m[1]) >= 3;
      }, null, { timeout: 15_000 });
      await sleep(600);
      await shot("stream-live");
      return text.replace(/\s+/g, " ");
    });
    await step("usable at 360 px wide", async () => {
      await page.setViewportSize({ width: 360, height: 780 });
      await sleep(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > 362)
          .slice(0, 8)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}.${el.className}:${Math.round(el.getBoundingClientRect().right)}`));
      check(overflow <= 362, `page is ${overflow} px wide at a 360 px viewport: ${wide.join(", ")}`);
      await shot("stream-live-360px");
      await go("#/streams");
      await page.locator("#streams-table").waitFor();
      const o2 = await page.evaluate(() => document.documentElement.scrollWidth);
      check(o2 <= 362, `streams list is ${o2} px wide at 360 px`);
      await page.setViewportSize({ width: 1280, height: 860 });
      return { overflow, streams: o2 };
    });

    await step("streams list: live status, search and status filter", async () => {
      await go("#/streams");
      const row = page.locator(`#streams-table tr[data-stream-id="${streamId}"]`);
      await row.getByText("Live", { exact: true }).waitFor();
      await page.getByLabel("Search by name").fill("nothing-like-this");
      await page.getByText("No stream matches").waitFor();
      await page.getByLabel("Search by name").fill("studio");
      await row.waitFor();
      await page.getByLabel("Status").selectOption("idle");
      await page.locator(`#streams-table tr[data-stream-id="${streamId}"]`).waitFor({ state: "detached" });
      await page.getByLabel("Status").selectOption("live");
      await row.waitFor();
      await page.getByLabel("Search by name").fill("");
      await page.getByLabel("Status").selectOption("");
      await row.waitFor();
      await shot("streams");
    });

    // --- rotate with grace "now" and "disconnect"
    let newKey;
    await step("rotate with grace now and disconnect: the new key is shown once", async () => {
      await go(`#/streams/${streamId}/keys`);
      await page.getByRole("heading", { name: "Rotate the stream key" }).waitFor();
      await page.getByLabel("Now: no grace period").check();
      await page.getByLabel("Disconnect the live publisher").check();
      const answer = page.waitForResponse((r) => r.url().endsWith(`/v1/streams/${streamId}/keys`) && r.request().method() === "POST");
      await page.getByRole("button", { name: "Rotate key" }).click();
      const resp = await answer;
      check(resp.status() === 201, `rotate answered ${resp.status()}`);
      const body = await resp.json();
      check(resp.request().postDataJSON().grace_seconds === 0 && resp.request().postDataJSON().disconnect_active === true, "rotation body");
      await page.locator("#new-stream-key").waitFor();
      await page.getByRole("button", { name: "Copy New Stream Key" }).click();
      newKey = await clipboard();
      check(newKey === body.stream_key && newKey !== copiedKey, "copied new key differs from the rotation answer");
      await page.locator("#keys-table").getByText("Expired").waitFor({ timeout: 10_000 });
      await shot("stream-keys");
    });
    await step("ffmpeg is cut", async () => {
      const r = await Promise.race([first.done, sleep(15_000).then(() => null)]);
      check(r, "ffmpeg was not cut within 15 s of the rotation");
      result.ffmpeg.push({ what: "cut by rotation", code: r.code, stderr: redact(r.stderr).slice(0, 600) });
      check(r.code !== 0, `ffmpeg exited ${r.code}`);
      check(/rotated/.test(r.stderr), `ffmpeg's error does not say why: ${redact(r.stderr)}`);
      return { code: r.code, ms: r.ms };
    });
    await step("a retry with the old key is refused and explained in plain words", async () => {
      const retry = publish(`${copiedServer}/${copiedKey}`, 5);
      publishers.push(retry);
      const r = await retry.done;
      result.ffmpeg.push({ what: "old key", code: r.code, stderr: redact(r.stderr).slice(0, 600) });
      check(r.code !== 0 && /rotated/.test(r.stderr), `old key: ${redact(r.stderr)}`);
      await go(`#/streams/${streamId}/attempts`);
      const item = page.locator("#attempts-list li[data-reason=key_expired]").first();
      await item.waitFor({ timeout: 10_000 });
      const text = await item.innerText();
      const oldId = copiedKey.slice(3, 13);
      const newId = newKey.slice(3, 13);
      check(text.includes(`old key sk_${oldId}…`), `names the old key: ${text}`);
      check(/rotated on .+ by you \(/.test(text), `says when and by whom: ${text}`);
      check(text.includes(opts.email), `names the user: ${text}`);
      check(text.includes(`current key (sk_${newId}…)`), `points to the current key: ${text}`);
      result.checks.keyExpiredExplanation = text.replace(/\s+/g, " ");
      return result.checks.keyExpiredExplanation;
    });

    // --- allowlist that excludes 127.0.0.1
    await step("the allowlist editor validates CIDRs as you type", async () => {
      await go(`#/streams/${streamId}/settings`);
      const ta = page.getByLabel("Addresses allowed to publish to this stream");
      await ta.fill("10.0.0.0/33");
      await page.getByText("/33 is too long for IPv4").waitFor();
      check(await page.getByRole("button", { name: "Save allowlist" }).isDisabled(), "Save is enabled with an invalid entry");
      check((await ta.getAttribute("aria-invalid")) !== null, "the textarea is not marked invalid");
      await ta.fill("2001:db8::/129");
      await page.getByText("/129 is too long for IPv6").waitFor();
      await ta.fill("10.1.2.3/8\n2001:DB8::/32");
      await page.getByText("host bits set: saved as 10.0.0.0/8").waitFor();
      check(!(await page.getByRole("button", { name: "Save allowlist" }).isDisabled()), "Save stays disabled");
      await shot("stream-settings");
    });
    await step("save an allowlist that excludes 127.0.0.1", async () => {
      await page.getByRole("button", { name: "Save allowlist" }).click();
      await page.getByText("Saved: 2 entries.").waitFor();
      const v = await page.getByLabel("Addresses allowed to publish to this stream").inputValue();
      check(v === "10.0.0.0/8\n2001:db8::/32", `normalised list: ${v}`);
    });
    await step("a publish from 127.0.0.1 is refused and explained", async () => {
      const p = publish(`${copiedServer}/${newKey}`, 5);
      publishers.push(p);
      const r = await p.done;
      result.ffmpeg.push({ what: "allowlist", code: r.code, stderr: redact(r.stderr).slice(0, 600) });
      check(r.code !== 0 && /not allowed/.test(r.stderr), `allowlist refusal: ${redact(r.stderr)}`);
      await go(`#/streams/${streamId}/attempts`);
      const item = page.locator("#attempts-list li[data-reason=ip_not_allowed]").first();
      await item.waitFor({ timeout: 10_000 });
      const text = await item.innerText();
      check(/connects from 127\.0\.0\.1, which this stream's IP allowlist does not include \(it lists 10\.0\.0\.0\/8, 2001:db8::\/32\)/.test(text), `explanation: ${text}`);
      check(/Settings → IP allowlist/.test(text), `fix: ${text}`);
      result.checks.ipExplanation = text.replace(/\s+/g, " ");
      await page.locator("#attempts-list li[data-reason=key_expired]").first().waitFor();
      await shot("stream-attempts");
      return result.checks.ipExplanation;
    });

    // --- what happened, as events: the stream's timeline, the receiver, the deliveries log
    await step("the stream's Events tab: its timeline, newest first, in words", async () => {
      await go(`#/streams/${streamId}/events`);
      const list = page.locator("#events-list");
      for (const t of ["stream.created", "stream.connected", "stream.active", "stream.key_rotated", "stream.idle", "stream.rejected", "stream.updated"]) {
        await list.locator(`li[data-type="${t}"]`).first().waitFor({ timeout: 15_000 });
      }
      const types = await list.locator("li").evaluateAll((els) => els.map((el) => el.dataset.type));
      check(types[types.length - 1] === "stream.created", `oldest is not stream.created: ${types.join(", ")}`);
      check(types.indexOf("stream.idle") < types.indexOf("stream.connected"), `not newest first: ${types.join(", ")}`);
      const active = await list.locator('li[data-type="stream.active"]').first().innerText();
      check(/HLS playback is ready at http:\/\/127\.0\.0\.1:\d+\/hls\//.test(active), `stream.active: ${active}`);
      const idle = await list.locator('li[data-type="stream.idle"]').first().innerText();
      check(/Session ended \((kicked:)?key_rotated\): The key was rotated/.test(idle), `stream.idle: ${idle}`);
      const rejected = await list.locator('li[data-type="stream.rejected"]').allInnerTexts();
      check(rejected.some((t) => /Publish refused: ip_not_allowed/.test(t)) && rejected.some((t) => /Publish refused: key_expired/.test(t)), `stream.rejected: ${rejected.join(" | ")}`);
      const first = list.locator('li[data-type="stream.created"]');
      await first.getByText("JSON", { exact: true }).click();
      const json = JSON.parse(await first.locator("pre").innerText());
      check(json.type === "stream.created" && json.stream_id === streamId && json.sequence === 1 && json.data.stream.name === "studio-a", `JSON: ${JSON.stringify(json).slice(0, 200)}`);
      await shot("stream-events");
      await narrow("the Events tab");
      return types;
    });
    await step("the receiver got the stream's events, signed with the secret", async () => {
      const want = ["stream.created", "stream.connected", "stream.active", "stream.key_rotated", "stream.idle", "stream.rejected"];
      const got = await waitFor(`deliveries of ${want.join(", ")}`, () => {
        const mine = receiver.got.filter((x) => x.event && x.event.stream_id === streamId);
        return want.every((t) => mine.some((x) => x.event.type === t)) ? mine : null;
      });
      check(got.every((x) => signedWith(x, secret)), "a delivery is not signed with the secret");
      const created = got.find((x) => x.event.type === "stream.created");
      check(created.event.sequence === 1 && created.headers["webhook-id"] === created.event.id, "stream.created envelope");
      return { deliveries: got.length };
    });
    let redelivered;
    await step("webhooks: the deliveries list filters by status and redelivers", async () => {
      await go(`#/webhooks/${hook.id}`);
      const table = page.locator("#deliveries-table");
      const createdRow = table.locator('tr[data-event-type="stream.created"]');
      await createdRow.first().waitFor();
      await page.getByLabel("Delivery status").selectOption("pending");
      await page.getByText("No pending deliveries.").waitFor();
      await page.getByLabel("Delivery status").selectOption("succeeded");
      await createdRow.first().waitFor();
      const states = await table.locator("tbody tr").evaluateAll((els) => els.map((el) => el.dataset.deliveryStatus));
      check(states.length > 0 && states.every((x) => x === "succeeded"), `succeeded filter: ${states.join(", ")}`);
      await page.getByLabel("Delivery status").selectOption("");
      redelivered = await createdRow.first().getAttribute("data-event-id");
      const before = receiver.got.filter((x) => x.event && x.event.id === redelivered).length;
      const answer = page.waitForResponse((r) => r.url().endsWith(`/v1/events/${redelivered}/redeliver`));
      await createdRow.first().getByRole("button", { name: `Redeliver stream.created ${redelivered}` }).click();
      const resp = await answer;
      check(resp.status() === 202 && resp.request().postDataJSON().webhook_id === hook.id, `redeliver answered ${resp.status()}`);
      await page.getByText("stream.created queued again").waitFor();
      await waitFor("the redelivery", () => receiver.got.filter((x) => x.event && x.event.id === redelivered).length > before);
      await page.waitForFunction((id) => document.querySelectorAll(`#deliveries-table tr[data-event-id="${id}"]`).length >= 2, redelivered, { timeout: 15_000 });
      return { redelivered };
    });
    await step("webhooks: rotate the secret with a 1 hour grace; deliveries carry both signatures", async () => {
      await page.getByLabel("For 1 hour").check();
      const answer = page.waitForResponse((r) => r.url().endsWith(`/v1/webhooks/${hook.id}/rotate-secret`));
      await page.getByRole("button", { name: "Rotate secret" }).click();
      const resp = await answer;
      check(resp.status() === 200 && resp.request().postDataJSON().grace_seconds === 3600, `rotate answered ${resp.status()}`);
      const body = await resp.json();
      await page.locator("#webhook-new-secret").waitFor();
      check((await page.locator("#webhook-secret").count()) === 0, "the old secret is still shown");
      await page.getByRole("button", { name: "Copy New signing secret" }).click();
      const fresh = await clipboard();
      check(fresh === body.secret && fresh !== secret, "copied new secret differs from the rotation answer");
      await page.locator("#webhook-facts").getByText("the previous secret also signs until").waitFor();
      const test = page.waitForResponse((r) => r.url().endsWith(`/v1/webhooks/${hook.id}/test`));
      await page.getByRole("button", { name: "Send test event" }).click();
      const r = await (await test).json();
      const got = receiver.got.find((x) => x.event && x.event.id === r.event_id);
      check(got && signedWith(got, fresh) && signedWith(got, secret), `not signed with both secrets: ${got && got.headers["webhook-signature"]}`);
      secret = fresh;
      await page.locator("#webhook-test-result").getByText(r.event_id).waitFor();
      await page.locator(`#deliveries-table tr[data-event-id="${r.event_id}"]`).waitFor();
      const width = await narrow("the webhook page");
      await shot("webhook");
      return { width };
    });
    await step("webhooks: disable (confirmed) and enable the endpoint", async () => {
      await page.getByRole("button", { name: "Disable endpoint" }).click();
      await page.getByRole("dialog", { name: "Disable this endpoint?" }).getByRole("button", { name: "Disable endpoint" }).click();
      await page.locator("#webhook-status").getByText("Disabled", { exact: true }).waitFor();
      await page.locator("#webhook-facts").getByText("disabled by a user").waitFor();
      await page.getByRole("button", { name: "Enable endpoint" }).click();
      await page.locator("#webhook-status").getByText("Enabled", { exact: true }).waitFor();
    });
    await step("webhooks: a second endpoint with event and stream filters, listed, then deleted", async () => {
      await go("#/webhooks");
      await page.getByLabel("Endpoint URL").fill(`${receiver.url}?filtered`);
      await page.getByLabel("Only the types chosen here").check();
      await page.getByLabel("stream.active").check();
      await page.getByLabel("stream.idle").check();
      await page.getByLabel("Only the streams chosen here").check();
      await page.getByLabel("studio-a").check();
      await page.getByLabel("In order, per stream").check();
      const answer = page.waitForResponse((r) => r.url().endsWith("/v1/webhooks") && r.request().method() === "POST");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      const resp = await answer;
      const sent = resp.request().postDataJSON();
      check(resp.status() === 201, `second endpoint: ${resp.status()}`);
      check(JSON.stringify(sent.events) === '["stream.active","stream.idle"]' && JSON.stringify(sent.stream_ids) === JSON.stringify([streamId]) && sent.ordering === "per_stream", `body: ${JSON.stringify(sent)}`);
      const second = (await resp.json()).webhook;
      await page.locator("#webhook-secret").waitFor();
      await page.locator("#webhook-facts").getByRole("link", { name: "studio-a" }).waitFor();
      await go("#/webhooks");
      const rows = page.locator("#webhooks-table tbody tr");
      await page.locator(`#webhooks-table tr[data-webhook-id="${second.id}"]`).getByRole("link", { name: "studio-a" }).waitFor();
      check((await rows.count()) === 2, "the list does not show both endpoints");
      const text = await page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`).innerText();
      check(/All events/.test(text) && /All streams/.test(text) && /enabled/i.test(text), `first row: ${text.replace(/\s+/g, " ")}`);
      await shot("webhooks");
      await narrow("the webhooks list");
      await page.locator(`#webhooks-table tr[data-webhook-id="${second.id}"]`).getByRole("link").first().click();
      await page.getByRole("button", { name: "Delete endpoint" }).click();
      await page.getByRole("dialog", { name: "Delete this endpoint?" }).waitFor();
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      await page.getByRole("button", { name: "Delete endpoint" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete endpoint" }).click();
      await page.getByRole("heading", { level: 1, name: "Webhooks" }).waitFor();
      await page.locator(`#webhooks-table tr[data-webhook-id="${second.id}"]`).waitFor({ state: "detached" });
      await page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`).waitFor();
    });

    // --- the other pages
    await step("sessions, with the bitrate chart of the ended session", async () => {
      await go(`#/streams/${streamId}/sessions`);
      const li = page.locator("#sessions-list li").first();
      await li.waitFor();
      const text = await li.innerText();
      check(/rotated/.test(text), `the session's end is explained: ${text}`);
      await li.getByRole("button", { name: "Show bitrate chart" }).click();
      await li.locator(".chart .line").waitFor();
      await shot("stream-sessions");
      return text.split("\n")[1];
    });
    await step("mint a publish token", async () => {
      await go(`#/streams/${streamId}/keys`);
      await page.getByLabel("Valid for").selectOption("3600");
      await page.getByRole("button", { name: "Mint publish token" }).click();
      await page.locator("#publish-token").waitFor();
    });
    await step("API tokens: create (shown once), list", async () => {
      await go("#/tokens");
      await page.getByLabel("Name").fill("ci");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.locator("#new-api-token").waitFor();
      await page.locator("#tokens-table").getByText("ci", { exact: true }).waitFor();
      check(!(await page.locator("#new-api-token").inputValue()).match(/^inlet_[A-Za-z0-9]{10}_[A-Za-z0-9]{20,}$/), "the token is shown unmasked");
      await shot("api-tokens");
    });
    await step("revoke a token through the confirmation dialog (Escape cancels)", async () => {
      const row = page.locator("#tokens-table tr").filter({ hasText: "ci" });
      await row.getByRole("button", { name: "Revoke ci" }).click();
      await page.getByRole("dialog", { name: "Revoke “ci”?" }).waitFor();
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      await row.waitFor();
      await row.getByRole("button", { name: "Revoke ci" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
      await row.waitFor({ state: "detached" });
    });
    await step("signing keys: create (private key shown once)", async () => {
      await go("#/signing-keys");
      await page.getByLabel("Name").fill("backend");
      await page.getByRole("button", { name: "Create signing key" }).click();
      await page.locator("#new-private-key").waitFor();
      await page.locator("#signing-keys-table").getByText("backend").waitFor();
      await shot("signing-keys");
    });
    await step("audit log in words", async () => {
      await go("#/audit");
      await page.locator("#audit-table").waitFor();
      const text = await page.locator("#audit-table").innerText();
      check(/rotated the key of studio-a/.test(text) && /the live publisher was disconnected/.test(text), `audit: ${text.slice(0, 300)}`);
      check(/minted a publish token for studio-a/.test(text), "mint not listed");
      check(/added the webhook endpoint http:\/\/127\.0\.0\.1:\d+\/hooks\/inlet/.test(text), "webhook creation not listed");
      check(/rotated the signing secret of http:\/\/127\.0\.0\.1:\d+\/hooks\/inlet; the previous one signs for 1 h more/.test(text), "secret rotation not listed");
      await shot("audit-log");
    });
    await step("account", async () => {
      await go("#/account");
      await page.getByRole("heading", { name: "Organization IP allowlist" }).waitFor();
      await page.getByLabel("Addresses allowed to publish to any of your streams").waitFor();
      await shot("account");
    });
    let inviteLink = null;
    await step("members: invite a viewer; the password link is shown once and copied", async () => {
      await go("#/members");
      await page.locator("#members-table").getByText("(you)").waitFor();
      await page.getByLabel("Email", { exact: true }).fill("vera@acme.example");
      await page.getByLabel("Role", { exact: true }).selectOption("viewer");
      await page.getByRole("button", { name: "Invite", exact: true }).click();
      await page.locator("#reset-link").waitFor();
      check(/token=rst_[A-Za-z0-9]{10}_•+$/.test(await page.locator("#reset-link").inputValue()), "the link is shown unmasked");
      await page.getByRole("button", { name: "Copy Password link for vera@acme.example" }).click();
      inviteLink = await clipboard();
      check(inviteLink.startsWith(`${base}/#/reset?token=rst_`), `copied ${redact(inviteLink)}`);
      await page.locator("#members-table tr").filter({ hasText: "vera@acme.example" }).getByText("invited").waitFor();
      await shot("members");
    });
    await step("members: change a role in its dialog, then remove the member (confirmed)", async () => {
      await page.getByLabel("Email", { exact: true }).fill("adam@acme.example");
      await page.getByLabel("Role", { exact: true }).selectOption("admin");
      await page.getByRole("button", { name: "Invite", exact: true }).click();
      const row = page.locator("#members-table tr").filter({ hasText: "adam@acme.example" });
      await row.getByText("admin", { exact: true }).waitFor();
      await row.getByRole("button", { name: "Change role for adam@acme.example" }).click();
      await page.getByRole("dialog").getByLabel("New role").selectOption("viewer");
      await page.getByRole("dialog").getByRole("button", { name: "Change role" }).click();
      await row.getByText("viewer", { exact: true }).waitFor();
      await row.getByRole("button", { name: "Remove for adam@acme.example" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Remove member" }).click();
      await row.waitFor({ state: "detached" });
      await go("#/audit");
      await page.locator("#audit-table").waitFor();
      const text = await page.locator("#audit-table").innerText();
      check(/invited vera@acme\.example as viewer/.test(text) && /changed the role of adam@acme\.example from admin to viewer/.test(text)
        && /removed adam@acme\.example \(viewer\)/.test(text), `audit: ${redact(text.slice(0, 400))}`);
      check(!text.includes(inviteLink.split("_").pop()), "the audit log shows the link's secret");
    });
    await step("log out", async () => {
      await page.getByRole("button", { name: "Log out" }).first().click();
      await page.getByLabel("Email").waitFor();
      await page.reload({ waitUntil: "load" });
      await page.getByLabel("Email").waitFor();
    });
    await step("the password link works logged out, refuses a short password, and logs the viewer in", async () => {
      await page.goto(inviteLink);
      await page.getByRole("heading", { name: "Choose a password" }).waitFor();
      check(!(await page.evaluate(() => location.hash)).includes("rst_"), "the token stays in the address bar");
      await page.getByLabel("New password").fill("short");
      await page.getByLabel("Repeat the password").fill("short");
      await page.getByRole("button", { name: "Set password and log in" }).click();
      await page.locator(".field-error:not([hidden])").getByText("Use 10 to 256 characters.").waitFor();
      await shot("reset-password");
      await page.getByLabel("New password").fill("vera's long passphrase");
      await page.getByLabel("Repeat the password").fill("vera's long passphrase");
      await page.getByRole("button", { name: "Set password and log in" }).click();
      await page.waitForFunction(() => location.hash === "#/streams");
      await page.locator("#streams-table, .empty").first().waitFor();
    });
    await step("a viewer sees no button that writes", async () => {
      check(!(await page.getByRole("link", { name: "New stream" }).isVisible()), "New stream is shown to a viewer");
      await go("#/members");
      const mine = page.locator("#members-table tr").filter({ hasText: "vera@acme.example" });
      await mine.getByRole("button", { name: "Reset link for vera@acme.example" }).waitFor();
      const buttons = await page.locator("main button:visible").allTextContents();
      check(buttons.length === 1 && buttons[0] === "Reset link", `a viewer sees ${buttons.join(", ")}`);
      check((await page.getByLabel("Email", { exact: true }).count()) === 0, "the invite form is shown to a viewer");
      await go("#/tokens");
      await page.locator("#tokens-table, main .empty").first().waitFor();
      const tokenButtons = await page.locator("main button:visible").allTextContents();
      check(tokenButtons.length === 0, `a viewer sees ${tokenButtons.join(", ")} on API tokens`);
      await page.getByRole("button", { name: "Log out" }).first().click();
      await page.getByLabel("Email").waitFor();
    });
    await sleep(300);
    result.ok =
      result.steps.every((s) => s.ok) &&
      result.consoleErrors.length === 0 &&
      result.pageErrors.length === 0 &&
      result.a11y.length === 0;
  } catch (e) {
    await recordFailure(result, e, context && context.pages()[0], "dashboard", redact, { fullPage: true });
  } finally {
    for (const p of publishers) p.child.kill("SIGKILL");
    receiver.close();
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    result.elapsedMs = Date.now() - started;
  }
}

await main();
finish(result);
