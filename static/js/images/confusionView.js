// A 10×10 confusion matrix of the test images (row: true class, column: predicted), shaded by
// count; a click on a cell asks for the images behind it.
export function createConfusionView(root, { onCell }) {
  const table = root.querySelector("table");
  const images = root.querySelector("[data-testid=confusion-images]");
  const caption = root.querySelector("[data-role=cell-caption]");
  build();

  function build() {
    const head = table.createTHead().insertRow();
    head.append(cellOf("th", "true ↓ / predicted →"));
    for (let p = 0; p < 10; p++) head.append(cellOf("th", String(p)));
    const body = table.createTBody();
    for (let t = 0; t < 10; t++) {
      const row = body.insertRow();
      row.append(cellOf("th", String(t)));
      for (let p = 0; p < 10; p++) {
        const td = row.insertCell();
        td.dataset.true = t;
        td.dataset.predicted = p;
        td.tabIndex = 0;
        td.addEventListener("click", () => onCell(t, p));
        td.addEventListener("keydown", (e) => e.key === "Enter" && onCell(t, p));
      }
    }
  }

  function draw(confusion) {
    const largestOff = Math.max(1, ...confusion.flatMap((row, t) => row.filter((_, p) => p !== t)));
    const largestOn = Math.max(1, ...confusion.map((row, t) => row[t]));
    confusion.forEach((row, t) =>
      row.forEach((count, p) => {
        const td = table.tBodies[0].rows[t].cells[p + 1];
        td.textContent = count;
        // Right answers in blue, mistakes in orange, each on its own scale (mistakes are few).
        const share = t === p ? count / largestOn : count / largestOff;
        td.style.background = count === 0 ? "" : t === p ? `rgba(8,119,189,${0.15 + 0.6 * share})` : `rgba(245,147,34,${0.2 + 0.7 * share})`;
      }),
    );
  }

  function showCell(cell, paint) {
    caption.textContent = `true ${cell.true_class}, predicted ${cell.predicted_class}: ${cell.total} image${cell.total === 1 ? "" : "s"}${cell.total > cell.images.length ? ` (first ${cell.images.length})` : ""}`;
    images.replaceChildren(
      ...cell.images.map((image) => {
        const canvas = document.createElement("canvas");
        canvas.title = `test image ${image.test_index}`;
        canvas.dataset.testIndex = image.test_index;
        paint(canvas, image.pixels);
        return canvas;
      }),
    );
  }

  return { draw, showCell };
}

function cellOf(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}
