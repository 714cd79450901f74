// The live preview. hls.js is vendored under web/vendor/hls.js/ (the light build of the npm package
// pinned in web/package.json; see docs/decisions.md) and built into the binary; a web directory
// without it (INLET_WEB_DIR) answers a stub that sets `inletHlsMissing`. Which engine plays is
// decided by previewEngine(): hls.js wherever Media Source Extensions exist; native HLS only in
// Safari and other WebKit browsers (iOS before 17.1 has no MSE); else the playback URL with why.
// Native HLS is never trusted on canPlayType alone: Chromium answers "maybe" for
// application/vnd.apple.mpegurl (its built-in HLS player), then stops on our MPEG-TS segments
// with DEMUXER_ERROR_COULD_NOT_PARSE.

import { h, replace } from "./dom.js";

/** Where the player is served (web/vendor/hls.js/hls.light.min.js). */
export const HLS_JS_URL = "/vendor/hls.js/hls.light.min.js";

/**
 * How the preview can play, from what the browser offers: "hls.js", "native", "missing" (no
 * native HLS and the server has no hls.js: say how to get it) or "unsupported". `hlsSupported`:
 * hls.js is loaded and Hls.isSupported(); `nativeAnswer`: canPlayType("application/vnd.apple.mpegurl");
 * `vendor`: navigator.vendor ("Apple Computer, Inc." in Safari and every iOS browser).
 */
export function previewEngine({ hlsSupported, hlsMissing, nativeAnswer, vendor }) {
  if (hlsSupported) return "hls.js";
  const claimsHls = nativeAnswer === "probably" || nativeAnswer === "maybe";
  if (claimsHls && /^Apple/.test(vendor || "")) return "native";
  return hlsMissing ? "missing" : "unsupported";
}

let loading = null;

/** Loads hls.js once; resolves when it is there or known to be missing. */
function loadHlsJs() {
  if (window.Hls || window.inletHlsMissing) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve) => {
      const s = document.createElement("script");
      s.src = HLS_JS_URL;
      s.onload = () => resolve();
      s.onerror = () => resolve();
      document.head.append(s);
    });
  }
  return loading;
}

/** The preview of one stream: set(url) starts or switches, set(null) and destroy() stop. */
export function createPlayer() {
  const video = h("video", {
    id: "preview-video",
    muted: true,
    autoplay: true,
    playsinline: true,
    controls: true,
    "aria-label": "Live preview (muted)",
  });
  video.muted = true;
  const note = h("p", { class: "hint", role: "status" });
  const el = h("div", { class: "player" }, video, note);
  let url = null;
  let hls = null;
  let retry = null;

  const stop = () => {
    if (retry) clearTimeout(retry);
    retry = null;
    if (hls) {
      hls.destroy();
      hls = null;
    }
    video.removeAttribute("src");
    video.load();
  };

  const play = () => {
    const p = video.play();
    if (p && p.catch) p.catch(() => {});
  };

  const mse = () => typeof window.MediaSource !== "undefined" || typeof window.ManagedMediaSource !== "undefined";
  const behind = "Muted; viewers are a few seconds behind the encoder.";

  const start = async (target) => {
    if (mse()) await loadHlsJs();
    if (url !== target) return;
    const Hls = window.Hls;
    const engine = previewEngine({
      hlsSupported: !!(Hls && Hls.isSupported()),
      hlsMissing: !Hls && mse(),
      nativeAnswer: video.canPlayType("application/vnd.apple.mpegurl"),
      vendor: navigator.vendor,
    });
    el.dataset.engine = engine;
    if (engine === "native") {
      note.textContent = `Preview: native HLS. ${behind}`;
      video.src = target;
      play();
      return;
    }
    if (engine === "hls.js") {
      note.textContent = `Preview: hls.js ${Hls.version}. ${behind}`;
      hls = new Hls({ liveDurationInfinity: true, lowLatencyMode: false });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal || !hls) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else {
          note.textContent = "The preview lost the stream; retrying…";
          retry = setTimeout(() => hls && hls.startLoad(), 2000);
        }
      });
      hls.on(Hls.Events.MANIFEST_PARSED, play);
      hls.loadSource(target);
      hls.attachMedia(video);
      return;
    }
    video.hidden = true;
    const elsewhere = ["Meanwhile open ", h("code", {}, target), " in VLC, ffplay or Safari."];
    replace(
      note,
      engine === "missing"
        ? ["No in-page preview: this browser does not play HLS by itself, and this server does not serve hls.js (",
           h("code", {}, HLS_JS_URL), " is missing from its INLET_WEB_DIR). To fix it, unset INLET_WEB_DIR to use the dashboard built into inlet, or copy ",
           h("code", {}, "web/vendor/"), " from the repository into that directory, and reload. ", elsewhere]
        : ["No in-page preview: this browser can play neither HLS nor Media Source Extensions. ", elsewhere],
    );
  };

  return {
    el,
    video,
    set(target) {
      if (target === url) return;
      stop();
      url = target;
      video.hidden = false;
      if (!target) {
        note.textContent = "";
        return;
      }
      start(target);
    },
    destroy() {
      url = null;
      stop();
    },
  };
}
