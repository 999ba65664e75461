// MemOS inspector: the neighbourhood graph (SVG, force layout) and the metric charts.
// Every string from the server is set with textContent / setAttribute: nothing is parsed as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const EDGE_COLOURS = {
  PARENT: "#8e44ad", RELATE_TO: "#2980b9", MERGED_TO: "#d35400",
  SUPERSEDES: "#c0392b", CONTEXT: "#7f8c8d", FOLLOWS: "#27ae60",
};
const TIER_COLOURS = { WorkingMemory: "#f39c12", LongTermMemory: "#16a085", UserMemory: "#2c3e50" };

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function shorten(text, n) {
  const t = String(text || "").replace(/\s+/g, " ").trim();
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

// Fruchterman-Reingold with a fixed number of steps: deterministic start positions (a circle
// per hop), so the same neighbourhood is drawn the same way each time.
function layout(nodes, edges, width, height) {
  const n = nodes.length;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const byHop = new Map();
  nodes.forEach((node) => byHop.set(node.hop, (byHop.get(node.hop) || 0) + 1));
  const maxHop = Math.max(1, ...nodes.map((node) => node.hop));
  const seen = new Map();
  const pos = nodes.map((node) => {
    const k = seen.get(node.hop) || 0;
    seen.set(node.hop, k + 1);
    const angle = (2 * Math.PI * k) / (byHop.get(node.hop) || 1);
    const r = (node.hop * Math.min(width, height)) / (2 * maxHop + 1);
    return { x: width / 2 + r * Math.cos(angle), y: height / 2 + r * Math.sin(angle) };
  });
  const links = edges.filter((e) => index.has(e.source) && index.has(e.target))
    .map((e) => [index.get(e.source), index.get(e.target)]);
  const area = width * height;
  const k = Math.sqrt(area / Math.max(n, 1)) * 0.75;
  let temperature = width / 10;
  const steps = n > 120 ? 150 : 300;
  for (let step = 0; step < steps; step++) {
    const disp = pos.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
        const d2 = Math.max(dx * dx + dy * dy, 0.01);
        const f = (k * k) / d2;
        dx *= f; dy *= f;
        disp[i].x += dx; disp[i].y += dy; disp[j].x -= dx; disp[j].y -= dy;
      }
    }
    for (const [a, b] of links) {
      const dx = pos[a].x - pos[b].x, dy = pos[a].y - pos[b].y;
      const d = Math.max(Math.sqrt(dx * dx + dy * dy), 0.01);
      const f = d / k;
      disp[a].x -= dx * f; disp[a].y -= dy * f; disp[b].x += dx * f; disp[b].y += dy * f;
    }
    for (let i = 0; i < n; i++) {
      const d = Math.max(Math.sqrt(disp[i].x ** 2 + disp[i].y ** 2), 0.01);
      const move = Math.min(d, temperature);
      pos[i].x = Math.min(width - 20, Math.max(20, pos[i].x + (disp[i].x / d) * move));
      pos[i].y = Math.min(height - 20, Math.max(20, pos[i].y + (disp[i].y / d) * move));
    }
    temperature *= 0.98;
  }
  return pos;
}

function drawGraph(box, data) {
  box.textContent = "";
  const width = 960, height = data.nodes.length > 60 ? 720 : 520;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, id: "graph-svg", role: "img" });
  const title = svgEl("title");
  title.textContent = `${data.nodes.length} nodes, ${data.edges.length} edges`;
  svg.appendChild(title);
  const pos = layout(data.nodes, data.edges, width, height);
  const at = new Map(data.nodes.map((node, i) => [node.id, pos[i]]));
  const edgeLayer = svgEl("g", { class: "edges" });
  for (const e of data.edges) {
    const a = at.get(e.source), b = at.get(e.target);
    if (!a || !b) continue;
    const line = svgEl("line", {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: EDGE_COLOURS[e.type] || "#999",
      "stroke-width": 1.5, "marker-end": "url(#arrow)", class: "edge", "data-type": e.type,
    });
    const t = svgEl("title");
    t.textContent = e.type;
    line.appendChild(t);
    edgeLayer.appendChild(line);
  }
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 16, refY: 5,
    markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" });
  marker.appendChild(svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#666" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  svg.appendChild(edgeLayer);
  // Up to 40 nodes every node is labelled; beyond, the centre and at most 12 of the nodes
  // with more than one edge (the rest say what they are on hover): 200 nodes stay readable.
  const degree = new Map();
  for (const e of data.edges) {
    degree.set(e.source, (degree.get(e.source) || 0) + 1);
    degree.set(e.target, (degree.get(e.target) || 0) + 1);
  }
  const labelled = new Set(data.nodes.length <= 40 ? data.nodes.map((node) => node.id) :
    data.nodes.filter((node) => (degree.get(node.id) || 0) > 1)
      .sort((a, b) => (degree.get(b.id) || 0) - (degree.get(a.id) || 0))
      .slice(0, 12).map((node) => node.id));
  labelled.add(data.center);
  const nodeLayer = svgEl("g", { class: "nodes" });
  data.nodes.forEach((node, i) => {
    const g = svgEl("g", {
      class: "node", "data-id": node.id, "data-hop": node.hop,
      "data-labelled": labelled.has(node.id) ? "yes" : "no",
    });
    const link = svgEl("a", { href: box.dataset.link + encodeURIComponent(node.id) });
    const r = node.id === data.center ? 11 : node.type === "topic" ? 8 : 6;
    link.appendChild(svgEl("circle", {
      cx: pos[i].x, cy: pos[i].y, r,
      fill: TIER_COLOURS[node.memory_type] || "#95a5a6",
      stroke: node.status === "activated" ? "#fff" : "#e74c3c", "stroke-width": 2,
    }));
    const t = svgEl("title");
    t.textContent = `${node.memory_type || ""} ${node.status || ""}: ${node.memory}`;
    link.appendChild(t);
    if (labelled.has(node.id)) {
      const label = svgEl("text", { x: pos[i].x + r + 3, y: pos[i].y + 4, class: "label" });
      label.textContent = shorten(node.memory, node.id === data.center ? 60 : 28);
      link.appendChild(label);
    }
    g.appendChild(link);
    nodeLayer.appendChild(g);
  });
  svg.appendChild(nodeLayer);
  box.appendChild(svg);
  const legend = document.getElementById("graph-legend");
  if (legend) {
    legend.textContent = "";
    const counts = {};
    for (const e of data.edges) counts[e.type] = (counts[e.type] || 0) + 1;
    const summary = document.createElement("p");
    summary.id = "graph-summary";
    summary.textContent = `${data.nodes.length} nodes, ${data.edges.length} edges` +
      (data.truncated ? " (capped: more nodes lie beyond)" : "");
    legend.appendChild(summary);
    for (const [type, colour] of Object.entries(EDGE_COLOURS)) {
      const item = document.createElement("span");
      item.className = "legend-item";
      item.dataset.type = type;
      const swatch = document.createElement("i");
      swatch.style.background = colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(`${type} ${counts[type] || 0}`));
      legend.appendChild(item);
    }
  }
}

async function loadGraph(box) {
  try {
    const res = await fetch(box.dataset.src, { credentials: "same-origin" });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
    drawGraph(box, body);
  } catch (err) {
    box.textContent = "";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Cannot draw the graph: ${err.message}`;
    box.appendChild(p);
  }
}

function sparkline(values, width, height) {
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark" });
  if (values.length === 1) values = [values[0], values[0]];
  const max = Math.max(1, ...values), min = Math.min(0, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) =>
    `${(i * step).toFixed(1)},${(height - 2 - ((v - min) / (max - min || 1)) * (height - 4)).toFixed(1)}`);
  svg.appendChild(svgEl("polyline", { points: points.join(" "), fill: "none", stroke: "#2980b9", "stroke-width": 1.5 }));
  return svg;
}

function startCharts(box) {
  const names = box.dataset.series.split(",");
  const history = [];
  const cards = new Map();
  for (const name of names) {
    const card = document.createElement("figure");
    card.className = "chart";
    card.dataset.series = name;
    const caption = document.createElement("figcaption");
    card.appendChild(caption);
    box.appendChild(card);
    cards.set(name, card);
  }
  async function tick() {
    try {
      const res = await fetch(box.dataset.src, { credentials: "same-origin" });
      if (!res.ok) throw new Error(res.statusText);
      history.push(await res.json());
      if (history.length > 60) history.shift();
      for (const name of names) {
        const card = cards.get(name);
        const values = history.map((s) => Number(s[name]) || 0);
        card.querySelector("figcaption").textContent = `${name}: ${values[values.length - 1]}`;
        const old = card.querySelector("svg");
        if (old) old.remove();
        card.appendChild(sparkline(values, 220, 48));
      }
      box.dataset.samples = String(history.length);
    } catch (err) {
      box.dataset.error = err.message;
    }
  }
  tick();
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const graph = document.getElementById("graph");
  if (graph) loadGraph(graph);
  const charts = document.getElementById("charts");
  if (charts) startCharts(charts);
});
