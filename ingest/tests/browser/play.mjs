// Plays an HLS stream in headless Chromium with hls.js and reports whether playback advanced.
//
//   node play.mjs <page-url> <hls-url> [--min-advance SECONDS] [--timeout SECONDS]
//
// Launches Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core with a fresh
// profile, opens <page-url>?src=<hls-url> (index.html, served over http by the test), and waits until
// `video.currentTime` has advanced by --min-advance seconds (default 2) past where playback started,
// or until --timeout seconds (default 30) pass. Console errors, uncaught page errors, the media
// element's error and hls.js fatal errors are failures. Prints one JSON line:
//   {"ok":bool,"currentTime":n,"startTime":n,"advanced":n,"errors":[...],"hlsErrors":[...],...}
// and exits 0 only when ok.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

function parseArgs(argv) {
  const positional = [];
  const opts = { minAdvance: 2, timeout: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--min-advance" || a === "--timeout") {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      opts[a === "--timeout" ? "timeout" : "minAdvance"] = v;
    } else {
      positional.push(a);
    }
  }
  if (positional.length !== 2) {
    throw new Error("usage: node play.mjs <page-url> <hls-url> [--min-advance S] [--timeout S]");
  }
  [opts.page, opts.src] = positional;
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const started = Date.now();
  const result = {
    ok: false,
    currentTime: null,
    startTime: null,
    advanced: null,
    errors: [],
    hlsErrors: [],
    hlsWarnings: [],
    events: null,
    hlsVersion: null,
    browserVersion: null,
    mseH264Aac: null,
    elapsedMs: 0,
  };
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    result.errors.push(String(e.message));
    return result;
  }

  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const profile = mkdtempSync(join(tmpdir(), "inlet-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: LAUNCH_ARGS,
      timeout: 30_000,
    });
    result.browserVersion = context.browser()?.version() ?? null;
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") result.errors.push(`console: ${m.text()}`.slice(0, 500));
    });
    page.on("pageerror", (e) => result.errors.push(`page error: ${e.message}`.slice(0, 500)));

    const url = new URL(opts.page);
    url.searchParams.set("src", opts.src);
    await page.goto(url.href, { waitUntil: "load", timeout: 15_000 });

    const deadline = started + opts.timeout * 1000;
    let s;
    for (;;) {
      s = await page.evaluate(() => {
        const v = document.getElementById("video");
        return { ...window.inlet, currentTime: v.currentTime, paused: v.paused };
      });
      const advanced = s.startTime === null ? 0 : s.currentTime - s.startTime;
      Object.assign(result, {
        currentTime: s.currentTime,
        startTime: s.startTime,
        advanced,
        hlsVersion: s.hlsVersion,
        mseH264Aac: s.mseH264Aac,
        events: { ...s.events, live: s.live, targetDuration: s.targetDuration, paused: s.paused },
      });
      const fatal = s.hlsErrors.filter((e) => e.fatal);
      if (s.setupError || s.mediaError || fatal.length > 0 || advanced >= opts.minAdvance) break;
      if (Date.now() > deadline) {
        result.errors.push(
          `timeout: currentTime advanced ${advanced.toFixed(3)} s (wanted ${opts.minAdvance}) in ${opts.timeout} s`,
        );
        break;
      }
      await sleep(250);
    }
    result.hlsErrors = s.hlsErrors;
    result.hlsWarnings = s.hlsWarnings;
    if (s.setupError) result.errors.push(`setup: ${s.setupError}`);
    if (s.mediaError) result.errors.push(`media error ${s.mediaError.code}: ${s.mediaError.message}`);
    for (const e of s.hlsErrors.filter((e) => e.fatal)) {
      result.errors.push(`hls.js fatal ${e.type}/${e.details}: ${e.reason}`);
    }
    result.ok = result.errors.length === 0 && result.advanced >= opts.minAdvance;
  } catch (e) {
    result.errors.push(`driver: ${e && e.message ? e.message.split("\n")[0] : String(e)}`);
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    result.elapsedMs = Date.now() - started;
  }
  return result;
}

const result = await main();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);
