// A small SVG line chart of a session's bitrate (GET /v1/streams/{id}/sessions/{sid}/health),
// with the stream's max_bitrate_kbps as a dashed line when it is in range. No library, no inline
// styles (the CSP allows none): presentation attributes and classes only.

import { h, fmtClock } from "./dom.js";

const H = 180;
const PAD = { left: 52, right: 12, top: 24, bottom: 28 };

/** A "nice" axis maximum above `v`: 1, 2 or 5 times a power of ten. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * @param {Array<{at: string, bitrate_kbps: number}>} points oldest first
 * @param {{limitKbps?: number, width?: number}} opts `width`: the box's width in CSS pixels, so that
 *   one user unit is one pixel and the labels keep their size on a phone
 */
export function bitrateChart(points, opts = {}) {
  const W = Math.max(280, Math.round(opts.width || 640));
  const pts = points
    .map((p) => ({ t: new Date(p.at).getTime(), v: Number(p.bitrate_kbps) || 0 }))
    .filter((p) => Number.isFinite(p.t));
  const peak = pts.reduce((m, p) => Math.max(m, p.v), 0);
  const latest = pts.length ? pts[pts.length - 1].v : 0;
  const limit = Number(opts.limitKbps) || 0;
  // Show the limit when it is near enough to the data to read both.
  const showLimit = limit > 0 && limit <= Math.max(peak, 1) * 2.5;
  const top = niceMax(Math.max(peak * 1.1, showLimit ? limit * 1.05 : 0, 100));
  const t0 = pts.length ? pts[0].t : 0;
  const t1 = pts.length ? pts[pts.length - 1].t : 1;
  const span = Math.max(t1 - t0, 1000);
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);

  const label = pts.length
    ? `Bitrate over the session: ${pts.length} measurements, latest ${latest} kbit/s, peak ${peak} kbit/s${limit ? `, limit ${limit} kbit/s` : ""}.`
    : "Bitrate over the session: no measurements yet.";
  const svg = h("svg:svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": label,
  });
  svg.append(h("svg:title", {}, label));

  for (const f of [0, 0.5, 1]) {
    const v = top * f;
    svg.append(
      h("svg:line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      h("svg:text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, `${Math.round(v)}`),
    );
  }
  svg.append(h("svg:text", { x: PAD.left, y: 12, class: "axis" }, "kbit/s"));
  if (showLimit) {
    svg.append(
      h("svg:line", { x1: PAD.left, x2: W - PAD.right, y1: y(limit), y2: y(limit), class: "limit" }),
      h("svg:text", { x: W - PAD.right, y: y(limit) - 4, "text-anchor": "end", class: "axis limit-text" }, `limit ${limit}`),
    );
  }
  if (pts.length) {
    const d = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const area = `${d} L${x(t1).toFixed(1)},${y(0)} L${x(t0).toFixed(1)},${y(0)} Z`;
    svg.append(h("svg:path", { d: area, class: "area" }), h("svg:path", { d, class: "line" }));
    const last = pts[pts.length - 1];
    svg.append(h("svg:circle", { cx: x(last.t), cy: y(last.v), r: 3, class: "dot" }));
    svg.append(
      h("svg:text", { x: PAD.left, y: H - 8, class: "axis" }, fmtClock(points[0].at)),
      h("svg:text", { x: W - PAD.right, y: H - 8, "text-anchor": "end", class: "axis" }, fmtClock(points[points.length - 1].at)),
    );
  } else {
    svg.append(h("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "Waiting for the first measurement…"));
  }
  return svg;
}

const drawn = new WeakSet();

/**
 * Draws the chart into `box` at the box's width (plus `caption`), and again whenever the window
 * is resized, so one user unit stays one pixel.
 */
export function drawBitrateChart(box, points, opts, caption) {
  box.chartData = { points, opts, caption };
  drawn.add(box);
  paint(box);
}

function paint(box) {
  const { points, opts, caption } = box.chartData;
  const width = box.clientWidth || (box.parentElement && box.parentElement.clientWidth) || 640;
  box.replaceChildren(bitrateChart(points, { ...opts, width }), ...(caption ? [caption] : []));
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const box of document.querySelectorAll(".chart-box")) {
      if (drawn.has(box) && box.chartData) paint(box);
    }
  }, 100);
});
