// The training dashboard: loss (each step, and the evaluations of train and val), learning
// rate, gradient norm and tokens/s against the step, drawn as SVG as the run's events arrive.
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const run = { rows: [], samples: [], checkpoints: [], finished: false };

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// Round ticks covering lo…hi: multiples of 1, 2 or 5 × 10^k (as loss.svg).
function ticks(lo, hi) {
  hi = Math.max(hi, lo + 1e-9 + Math.abs(lo) * 1e-6);
  const magnitude = Math.pow(10, Math.floor(Math.log10((hi - lo) / 5)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => (hi - lo) / s <= 7) || 10 * magnitude;
  const out = [];
  for (let k = Math.floor(lo / step); k <= Math.ceil(hi / step); k++) out.push(k * step);
  return out;
}

function label(value, spacing) {
  if (value === 0) return "0";
  if (Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3)) return value.toExponential(1);
  return value.toFixed(Math.max(0, Math.ceil(-Math.log10(spacing))));
}

// One chart: series of {name, color, points: [[step, value]], dots}.
function chart(element, title, series) {
  const [W, H, L, R, T, B] = [640, 300, 62, 14, 30, 34];
  element.replaceChildren();
  element.append(svg("text", { x: W / 2, y: 19, "text-anchor": "middle", "font-size": 14 }, title));
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  if (!all.length) return;
  const yt = ticks(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])));
  const xt = ticks(0, Math.max(1, ...all.map((p) => p[0])));
  const x = (v) => L + (v - xt[0]) / (xt[xt.length - 1] - xt[0]) * (W - L - R);
  const y = (v) => T + (yt[yt.length - 1] - v) / (yt[yt.length - 1] - yt[0]) * (H - T - B);
  for (const v of yt) {
    element.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e8ec" }));
    element.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#555" }, label(v, yt[1] - yt[0])));
  }
  for (const v of xt) element.append(svg("text", { x: x(v), y: H - B + 16, "text-anchor": "middle", "font-size": 11, fill: "#555" }, String(v)));
  element.append(svg("text", { x: W / 2, y: H - 4, "text-anchor": "middle", "font-size": 11, fill: "#555" }, "step"));
  series.forEach((s, k) => {
    const points = s.points.filter((p) => Number.isFinite(p[1]));
    element.append(svg("polyline", { fill: "none", stroke: s.color, "stroke-width": s.dots ? 1.8 : 1.2,
                                      points: points.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ") }));
    if (s.dots) for (const p of points) element.append(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 3.2, fill: s.color, class: "point " + s.name }));
    element.append(svg("text", { x: W - R - 120, y: T + 12 + 15 * k, "font-size": 12, fill: s.color }, (s.dots ? "● " : "— ") + s.name));
  });
}

function draw() {
  const rows = run.rows, steps = rows.filter((r) => r.step > 0);
  const series = (key, dots = false) => rows.filter((r) => r[key] !== undefined && (dots || r.step > 0)).map((r) => [r.step, r[key]]);
  chart($("chart-loss"), "loss", [
    { name: "step loss", color: "#9ab", points: series("loss") },
    { name: "train", color: "#1f77b4", points: series("train_loss", true), dots: true },
    { name: "val", color: "#ff7f0e", points: series("val_loss", true), dots: true },
  ]);
  chart($("chart-lr"), "learning rate", [{ name: "lr", color: "#2ca02c", points: series("lr") }]);
  chart($("chart-grad"), "gradient norm (before clipping)", [{ name: "norm", color: "#9467bd", points: series("grad_norm") }]);
  chart($("chart-speed"), "tokens / s", [{ name: "tokens/s", color: "#8c564b", points: steps.map((r) => [r.step, r.tokens_per_sec]) }]);
  const last = rows[rows.length - 1];
  document.body.dataset.steps = last ? last.step : 0;
  document.body.dataset.rows = rows.length;
  const evaluation = [...rows].reverse().find((r) => r.val_loss !== undefined || r.train_loss !== undefined);
  SG.status((run.finished ? "finished" : "live") + (last ? ` · step ${last.step}` : "") +
            (evaluation ? ` · val ${evaluation.val_loss?.toFixed(4) ?? "–"} · train ${evaluation.train_loss?.toFixed(4) ?? "–"}` : ""));
  $("samples").replaceChildren(...[...run.samples].reverse().slice(0, 8).flatMap((s) => [SG.el("b", { text: `step ${s.step}` }), SG.el("pre", { text: s.text })]));
  $("checkpoints").replaceChildren(...[...run.checkpoints].reverse().slice(0, 12).map((c) => SG.el("div", { text: `step ${c.step} → ${c.path}` })));
}

function apply(event) {
  switch (event.type) {
    case "snapshot":
      Object.assign(run, event);
      $("title").textContent = event.title;
      $("info").replaceChildren(...Object.entries(event.info).map(([k, v]) => SG.el("tr", {}, SG.el("td", { text: k }), SG.el("td", { text: v }))));
      break;
    case "row": run.rows.push(event.value); break;
    case "sample": run.samples.push(event.value); break;
    case "checkpoint": run.checkpoints.push(event.value); break;
    case "finished": run.finished = true; break;
  }
}

let scheduled = false;
async function start() {
  SG.status("connecting…");
  SG.nav(await SG.props());
  for (;;) {
    try {
      const response = await SG.get("/dashboard/events");
      for await (const event of SG.events(response)) {
        apply(event);
        // Many steps may arrive at once: draw once per frame.
        if (!scheduled) { scheduled = true; requestAnimationFrame(() => { scheduled = false; draw(); }); }
      }
    } catch (error) { SG.status("disconnected: " + error.message, true); }
    if (run.finished) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));  // the server went away: try again
  }
}
start();
