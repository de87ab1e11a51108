// The teacher's class view: one tile per student (boundary picture, loss sparkline, step,
// test accuracy, settings that differ from the lesson). Names are set with textContent only.
import { createHeatmapCanvas, formatNumber } from "./colors.js";
import { element } from "./dom.js";
import { sparklinePath, sortTiles } from "../roomTiles.js";

const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 28;
const SVG = "http://www.w3.org/2000/svg";

function createTile(onWatch) {
  const heat = createHeatmapCanvas();
  heat.canvas.className = "tile-boundary";
  const name = element("strong", { className: "tile-name" });
  const figures = element("span", { className: "tile-figures" });
  const differs = element("span", { className: "tile-differs" });
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`);
  svg.setAttribute("class", "tile-sparkline");
  const path = document.createElementNS(SVG, "path");
  svg.append(path);
  const root = element("button", { testid: "class-tile", className: "class-tile" }, [
    heat.canvas,
    element("span", { className: "tile-text" }, [name, figures, svg, differs]),
  ]);
  root.type = "button";
  root.addEventListener("click", () => onWatch(root.dataset.student));
  return {
    root,
    update(tile, watching) {
      root.dataset.student = tile.student;
      root.classList.toggle("disconnected", !tile.connected);
      root.classList.toggle("watching", watching === tile.student);
      name.textContent = tile.name;
      const accuracy = tile.test_accuracy == null ? "—" : `${(tile.test_accuracy * 100).toFixed(0)}%`;
      figures.textContent = `step ${tile.step} · test loss ${formatNumber(tile.test_loss)} · acc ${accuracy}`;
      differs.textContent = tile.differs.join(", ");
      path.setAttribute("d", sparklinePath(tile.sparkline, SPARK_WIDTH, SPARK_HEIGHT));
      if (tile.boundary) heat.draw(tile.boundary);
    },
  };
}

export function createClassView(container, { onWatch }) {
  const tiles = new Map(); // student id → its tile's DOM, reused on every refresh
  return {
    render(data, sortBy, watching) {
      const order = sortTiles(data, sortBy);
      for (const [id, tile] of tiles) {
        if (!data.has(id)) {
          tile.root.remove();
          tiles.delete(id);
        }
      }
      for (const entry of order) {
        let tile = tiles.get(entry.student);
        if (!tile) {
          tile = createTile(onWatch);
          tiles.set(entry.student, tile);
        }
        tile.update(entry, watching);
        container.append(tile.root); // appending in order also sorts the existing tiles
      }
    },
  };
}
