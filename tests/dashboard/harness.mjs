// What the browser scenarios of tests/dashboard/ share (dashboard.mjs, embedded.mjs): Chromium's
// flags, `--key value` arguments, the result they print as one JSON line with its named steps and
// what a failure left on screen, and an ffmpeg publisher.

import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Headless, no sandbox (root in CI), no network chatter, autoplay for the muted preview. */
export const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"];

/** `--key value` pairs into an object; throws when one of `required` is missing. */
export function parseArgs(argv, required) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${k}`);
    o[k.slice(2)] = argv[i + 1];
  }
  for (const k of required) {
    if (!o[k]) throw new Error(`--${k} is required`);
  }
  return o;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * The result a scenario prints ({ok, steps, consoleErrors, pageErrors, checks, …, plus `extra`})
 * and step(name, fn), which records each step with its time, its detail or its error (and rethrows).
 */
export function createRun(extra = {}) {
  const result = { ok: false, steps: [], consoleErrors: [], pageErrors: [], checks: {}, ...extra, browserVersion: null, elapsedMs: 0, error: null };
  async function step(name, fn) {
    const t = Date.now();
    const rec = { name, ok: false, ms: 0 };
    result.steps.push(rec);
    try {
      const detail = await fn();
      rec.ok = true;
      if (detail !== undefined) rec.detail = detail;
    } catch (e) {
      rec.error = e && e.message ? e.message.split("\n").slice(0, 4).join(" | ") : String(e);
      throw e;
    } finally {
      rec.ms = Date.now() - t;
    }
  }
  return { result, step };
}

/**
 * Starts ffmpeg publishing a 640x360 test pattern with a tone to `url` for `seconds`:
 * {child, done} where `done` resolves {code, stderr, ms} when it exits.
 */
export function publish(url, seconds) {
  const args = [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", String(seconds),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k",
    "-f", "flv", url,
  ];
  const started = Date.now();
  const child = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    if (stderr.length < 20000) stderr += d.toString();
  });
  const done = new Promise((resolve) => {
    child.on("error", (e) => resolve({ code: -1, stderr: `spawn failed: ${e.message}`, ms: Date.now() - started }));
    child.on("exit", (code, signal) => resolve({ code: code === null ? `signal ${signal}` : code, stderr: stderr.trim(), ms: Date.now() - started }));
  });
  return { child, done };
}

/** The live preview's state (web/js/player.js): engine, note, whether the video shows, its time. */
export const previewState = (page) => page.evaluate(() => {
  const v = document.getElementById("preview-video");
  const box = document.querySelector(".player");
  const note = document.querySelector(".player .hint");
  return v ? { engine: box && box.dataset.engine, t: v.currentTime, paused: v.paused, hidden: v.hidden, err: v.error && v.error.message, note: note && note.textContent } : null;
});

/**
 * Waits up to `within` ms for the preview's video.currentTime to advance 2 s from the first time
 * it moved: {startTime, last} (last: previewState), or throws with what it saw.
 */
export async function waitForPlayback(page, within) {
  const deadline = Date.now() + within;
  let startTime = null;
  let last = null;
  while (Date.now() < deadline) {
    last = await previewState(page);
    if (last && last.t > 0 && startTime === null) startTime = last.t;
    if (startTime !== null && last.t - startTime >= 2) return { startTime, last };
    await sleep(250);
  }
  throw new Error(`currentTime did not advance 2 s: ${JSON.stringify({ startTime, last })}`);
}

/**
 * After an uncaught failure: the error, the text `page` showed and a screenshot of it (outside the
 * docs, named after `name`; `fullPage` for all of it) go into the result; `redact` hides secrets in
 * what is kept.
 */
export async function recordFailure(result, e, page, name, redact, { fullPage = false } = {}) {
  result.error = redact(e && e.message ? e.message.split("\n").slice(0, 6).join(" | ") : String(e));
  if (!page) return;
  result.failurePage = await page.evaluate(() => document.body.innerText.slice(0, 3000)).then(redact).catch(() => null);
  result.failureScreenshot = join(tmpdir(), `inlet-${name}-failure-${process.pid}.png`);
  await page.screenshot({ path: result.failureScreenshot, fullPage, timeout: 20_000 }).catch(() => {});
}

/** Prints the result as one JSON line and exits 0 only when it is ok. */
export function finish(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}
