// Bar charts as SVG built node by node: a few dozen bars need no charting library, and nothing loads
// from a CDN (the console works offline, under a CSP that allows only this origin).
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function barChart(title, points) {
  const width = 320, height = 120, pad = 18;
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = (width - pad) / Math.max(points.length, 1);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  svg.append(el("title", {}, title));
  svg.append(el("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis" }));
  svg.append(el("text", { x: 0, y: 10 }, String(max)));
  points.forEach((point, i) => {
    const barHeight = ((height - 2 * pad) * point.value) / max;
    const bar = el("rect", {
      x: pad + i * step + 1, y: height - pad - barHeight, width: Math.max(step - 2, 1), height: barHeight, class: "bar",
    });
    bar.append(el("title", {}, `${point.label}: ${point.value}`));
    svg.append(bar);
  });
  if (points.length) {
    svg.append(el("text", { x: pad, y: height - 4 }, points[0].label));
    svg.append(el("text", { x: width, y: height - 4, "text-anchor": "end" }, points.at(-1).label));
  }
  return svg;
}
