// Service level per tier over the day, drawn as plain SVG (no library, no
// build step): one line and one dot per interval with calls for each tier,
// the tier's target as a dashed line in the same colour, 0–100 % on the
// y axis and the day's hours on the x axis.
"use strict";

const TIER_COLOURS = { diamond: "#2563eb", gold: "#b7791f", silver: "#64748b", normal: "#15803d" };
function tierColour(tier) {
  if (TIER_COLOURS[tier]) return TIER_COLOURS[tier];
  let h = 0;
  for (const c of String(tier)) h = (h * 31 + c.charCodeAt(0)) % 360;
  return "hsl(" + h + " 60% 40%)";
}

const SVGNS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

// drawSLChart renders rows of /api/reports?by=tier into box. from/to bound
// the x axis (the day so far); tiers fixes the order of the legend.
function drawSLChart(box, rows, from, to, tiers, labels) {
  box.textContent = "";
  const W = 640, H = 260, L = 44, R = 12, T = 12, B = 28;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, id: "sl-chart", role: "img", "aria-label": labels.title, preserveAspectRatio: "xMidYMid meet" });
  // The whole day from midnight, with a mark at now.
  const x0 = from.getTime(), x1 = Math.max(to.getTime(), x0 + 24 * 3600e3);
  const X = (t) => L + (W - L - R) * (t - x0) / (x1 - x0);
  const Y = (v) => T + (H - T - B) * (1 - v);
  // Grid: 0, 25, 50, 75, 100 %.
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid" }));
    svg.append(svgEl("text", { x: L - 6, y: Y(v) + 4, class: "axis", "text-anchor": "end" }, fmtPct(v, 0)));
  }
  // Hours along the bottom, every 3 h (every hour for a short day).
  for (let d = new Date(x0); d.getTime() < x1; d = new Date(d.getTime() + 3 * 3600e3)) {
    svg.append(svgEl("text", { x: X(d.getTime()), y: H - 8, class: "axis", "text-anchor": "middle" }, fmtHour(d)));
  }
  if (to.getTime() < x1) svg.append(svgEl("line", { x1: X(to.getTime()), x2: X(to.getTime()), y1: T, y2: H - B, class: "now" }));
  const byTier = new Map();
  for (const t of tiers) byTier.set(t, []);
  for (const r of rows) {
    if (!byTier.has(r.key)) byTier.set(r.key, []);
    byTier.get(r.key).push(r);
  }
  let points = 0;
  for (const [tier, rs] of byTier) {
    const colour = tierColour(tier);
    const target = rs.find((r) => r.target != null);
    if (target) svg.append(svgEl("line", { x1: L, x2: W - R, y1: Y(target.target), y2: Y(target.target), stroke: colour, class: "target", "data-tier": tier }));
    const pts = rs.filter((r) => r.service_level != null)
      // Mid-interval, or now for the interval under way.
      .map((r) => ({ t: Math.min((Date.parse(r.start) + Date.parse(r.end)) / 2, to.getTime()), v: r.service_level, r }))
      .sort((a, b) => a.t - b.t);
    if (pts.length > 1) {
      svg.append(svgEl("polyline", { points: pts.map((p) => X(p.t).toFixed(1) + "," + Y(p.v).toFixed(1)).join(" "), stroke: colour, class: "series", "data-tier": tier }));
    }
    for (const p of pts) {
      const c = svgEl("circle", { cx: X(p.t).toFixed(1), cy: Y(p.v).toFixed(1), r: 3.5, fill: colour, "data-tier": tier });
      c.append(svgEl("title", {}, tOr("tier.", tier) + " " + fmtHour(p.r.start) + ": " + fmtPct(p.v) + " (" + p.r.answered_within + "/" + (p.r.answered + p.r.abandoned) + ")"));
      svg.append(c);
      points++;
    }
  }
  box.append(svg);
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const tier of byTier.keys()) {
    const s = document.createElement("span");
    const sw = document.createElement("i"); sw.style.background = tierColour(tier);
    s.append(sw, document.createTextNode(tOr("tier.", tier)));
    legend.append(s);
  }
  if (!points) {
    const p = document.createElement("p"); p.className = "hint"; p.textContent = labels.empty; legend.append(p);
  }
  box.append(legend);
  return points;
}
