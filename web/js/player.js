// The live preview: hls.js from /vendor/hls.min.js (the npm package, installed with
// `npm ci --prefix web`; the API serves a stub that sets `inletHlsMissing` when it is absent) where
// the browser has Media Source Extensions; else native HLS (iOS Safari); else the playback URL and
// how to enable the preview. hls.js comes first because a browser may claim native HLS and fail
// on it: Chromium 156 answers canPlayType("application/vnd.apple.mpegurl") with "maybe", then
// stops on our MPEG-TS segments with DEMUXER_ERROR_COULD_NOT_PARSE.

import { h, replace } from "./dom.js";

let loading = null;

/** Loads hls.js once; resolves when it is there or known to be missing. */
function loadHlsJs() {
  if (window.Hls || window.inletHlsMissing) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve) => {
      const s = document.createElement("script");
      s.src = "/vendor/hls.min.js";
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

  const native = () => video.canPlayType("application/vnd.apple.mpegurl") !== "";
  const mse = () => typeof window.MediaSource !== "undefined" || typeof window.ManagedMediaSource !== "undefined";

  const start = async (target) => {
    if (mse()) await loadHlsJs();
    if (url !== target) return;
    const Hls = window.Hls;
    if (!(Hls && Hls.isSupported()) && native()) {
      note.textContent = "Preview: native HLS. Muted; viewers are a few seconds behind the encoder.";
      video.src = target;
      play();
      return;
    }
    if (Hls && Hls.isSupported()) {
      note.textContent = `Preview: hls.js ${Hls.version}. Muted; viewers are a few seconds behind the encoder.`;
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
    replace(
      note,
      window.inletHlsMissing
        ? ["This browser has no native HLS and hls.js is not installed on the server. To enable the in-page preview, run ",
           h("code", {}, "npm ci --prefix web"), " where the dashboard is served from, and reload. Meanwhile play the URL above in any HLS player (ffplay, VLC, Safari)."]
        : "This browser can play neither HLS nor Media Source Extensions. Play the URL above in any HLS player (ffplay, VLC, Safari).",
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
