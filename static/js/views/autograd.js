// The autograd graph of the loss: the Nodes that loss.backward() walks, drawn as a layered DAG
// from the loss (top) down to the parameters' AccumulateGrad leaves, with gradient norms.
import { formatNumber } from "./colors.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const NODE_W = 150;
const NODE_H = 30;
const GAP_X = 14;
const ROW_H = 46;
const PAD = 8;
const CHAR_W = 6.6; // 11px Liberation Sans, generously: long op names widen their box

const label = (node) => (node.parameter !== null ? `${node.parameter} [${node.shape.join("×")}]` : node.name);
const widthOf = (node) => Math.max(NODE_W, Math.ceil(label(node).length * CHAR_W) + 12);

function svgElement(name, attributes = {}) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  return el;
}

// Rows by depth; within a row, nodes sit in the order of their parents' positions, which keeps
// each layer's chain (Addmm → activation → Addmm) nearly straight and edges from crossing.
function layout(graph) {
  const rows = [];
  for (const node of graph.nodes) (rows[node.depth] ||= []).push(node);
  const parents = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) parents.get(e.target).push(e.source);
  const x = new Map();
  rows.forEach((row, depth) => {
    if (depth > 0) {
      const centre = (n) => {
        const xs = parents.get(n.id).map((p) => x.get(p)).filter((v) => v !== undefined);
        return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
      };
      // Leaves go to the right of the ops, so the op chain stays one column.
      row.sort((a, b) => (a.parameter ? 1 : 0) - (b.parameter ? 1 : 0) || centre(a) - centre(b) || a.id - b.id);
    }
    row.forEach((n, i) => x.set(n.id, i));
  });
  return { rows };
}

export function createAutogradView(root) {
  const caption = document.createElement("div");
  caption.className = "muted autograd-caption";
  const svg = svgElement("svg", { role: "img", "aria-label": "autograd graph" });
  const readout = document.createElement("div");
  readout.className = "chart-readout";
  readout.textContent = "hover a node for its shape and gradient";
  root.append(caption, svg, readout);
  let shown = null;

  function draw(graph) {
    svg.replaceChildren();
    const { rows } = layout(graph);
    const position = new Map();
    let width = 0;
    for (const row of rows) {
      let left = PAD;
      for (const node of row || []) {
        const w = widthOf(node);
        position.set(node.id, { x: left, y: PAD + node.depth * ROW_H, w });
        left += w + GAP_X;
      }
      width = Math.max(width, left - GAP_X + PAD);
    }
    const height = PAD * 2 + rows.length * ROW_H;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const edgeLayer = svgElement("g", { class: "autograd-edges" });
    for (const e of graph.edges) {
      const a = position.get(e.source);
      const b = position.get(e.target);
      const x1 = a.x + a.w / 2, y1 = a.y + NODE_H, x2 = b.x + b.w / 2, y2 = b.y;
      edgeLayer.append(svgElement("path", { d: `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`, class: "autograd-edge" }));
    }
    svg.append(edgeLayer);
    for (const node of graph.nodes) {
      const p = position.get(node.id);
      const leaf = node.parameter !== null;
      const g = svgElement("g", { class: `autograd-node${leaf ? " leaf" : ""}${node.id === 0 ? " root" : ""}`, transform: `translate(${p.x},${p.y})`, tabindex: "0" });
      g.dataset.name = node.name;
      if (node.parameter) g.dataset.parameter = node.parameter;
      g.append(svgElement("rect", { width: p.w, height: NODE_H, rx: 4 }));
      const title = svgElement("text", { x: 6, y: 12 });
      title.textContent = label(node);
      const sub = svgElement("text", { x: 6, y: 25, class: "sub" });
      sub.textContent = leaf ? (node.grad_norm === null ? "AccumulateGrad · no .grad" : `AccumulateGrad · ‖grad‖ ${formatNumber(node.grad_norm, 3)}`) : node.id === 0 ? "loss.grad_fn" : "";
      g.append(title, sub);
      const describe = () => {
        readout.textContent = leaf
          ? `${node.name} → ${node.parameter}, shape [${node.shape.join(", ")}], ‖∂L/∂θ‖ = ${formatNumber(node.grad_norm, 5)}`
          : `${node.name}: its backward passes the gradient on to ${graph.edges.filter((e) => e.source === node.id).length} node(s)`;
      };
      g.addEventListener("mouseenter", describe);
      g.addEventListener("focus", describe);
      svg.append(g);
    }
    const ops = graph.nodes.filter((n) => n.parameter === null).length;
    caption.textContent = `${ops} backward ops, ${graph.nodes.length - ops} parameters${graph.has_gradients ? ", gradient norms after backward()" : ""}`;
  }

  return {
    update({ graph }) {
      if (!graph || graph === shown) return;
      shown = graph;
      draw(graph);
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
