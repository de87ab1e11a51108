// The first layer's filters (conv1's kernels, or an MLP's first-layer rows as 8×8 images) and
// their ∂L/∂W, redrawn on every frame. Each canvas keeps the numbers it shows (data-values), so
// a reader — or a test — can check the picture against the model.
import { largestMagnitude, paintDiverging } from "./pictures.js";

export function createFiltersView(root, { onWeight }) {
  const grid = root.querySelector("[data-role=filter-grid]");
  const caption = root.querySelector("[data-role=filter-caption]");
  const showGrads = root.querySelector("[data-testid=filters-show-grads]");
  let last = null;
  showGrads.addEventListener("change", () => last && draw(last));

  function draw(filters) {
    last = filters;
    const values = showGrads.checked ? filters.grads : filters.weights;
    const n = filters.side * filters.side;
    const limit = largestMagnitude(values);
    while (grid.children.length > filters.count) grid.lastChild.remove();
    while (grid.children.length < filters.count) {
      const canvas = document.createElement("canvas");
      canvas.className = "filter";
      canvas.dataset.testid = "filter";
      // A click on a cell: that weight, one sample by hand.
      canvas.addEventListener("click", (event) => {
        const side = last.side;
        const box = canvas.getBoundingClientRect();
        const col = Math.min(side - 1, Math.floor(((event.clientX - box.left) / box.width) * side));
        const row = Math.min(side - 1, Math.floor(((event.clientY - box.top) / box.height) * side));
        onWeight([...grid.children].indexOf(canvas), row, col);
      });
      grid.append(canvas);
    }
    const scale = Math.max(4, Math.floor(48 / filters.side));
    [...grid.children].forEach((canvas, i) => {
      const own = values.slice(i * n, (i + 1) * n);
      paintDiverging(canvas, own, filters.side, scale, limit);
      canvas.dataset.values = JSON.stringify(own);
      canvas.title = `${filters.layer} #${i + 1}`;
    });
    const what = showGrads.checked ? "∂L/∂W" : "weights";
    caption.textContent = `${filters.layer}: ${filters.count} of ${filters.side}×${filters.side}, ${what}, ±${limit.toPrecision(2)} at full colour`;
  }

  return { draw };
}
