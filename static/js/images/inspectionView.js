// What the model makes of one image (a test image or a drawing): the softmax over the ten
// digits, every stage's maps, and the saliency ∂L/∂pixel for the class it is asked about.
import { largestMagnitude, paintDiverging, paintGrey } from "./pictures.js";

export function createInspectionView(root, { onTarget }) {
  const prediction = root.querySelector("[data-testid=prediction]");
  const saliency = root.querySelector("[data-testid=saliency] canvas");
  const saliencyCaption = root.querySelector("[data-role=saliency-caption]");
  const maps = root.querySelector("[data-testid=feature-maps]");
  const source = root.querySelector("[data-role=inspected-image]");
  const sourceCaption = root.querySelector("[data-role=inspected-caption]");

  function draw(seen) {
    paintGrey(source, seen.pixels, 8, 12);
    sourceCaption.textContent = seen.label === null ? "your drawing" : `test image, label ${seen.label}`;
    drawPrediction(seen);
    paintDiverging(saliency, seen.saliency, 8, 12, largestMagnitude(seen.saliency));
    saliency.dataset.values = JSON.stringify(seen.saliency);
    saliencyCaption.textContent = `∂L/∂pixel for class ${seen.target} (blue: more ink raises the loss)`;
    maps.replaceChildren(...seen.stages.map(stageRow));
  }

  function drawPrediction(seen) {
    prediction.replaceChildren(
      ...seen.probabilities.map((p, digit) => {
        const row = document.createElement("div");
        row.className = "bar" + (digit === seen.predicted ? " predicted" : "");
        row.dataset.digit = digit;
        row.dataset.probability = p;
        // A click asks for the saliency of this digit: what ink would make it more so.
        row.title = `saliency for ${digit}`;
        row.addEventListener("click", () => onTarget(digit));
        const label = document.createElement("span");
        label.textContent = digit;
        const bar = document.createElement("span");
        bar.className = "fill";
        bar.style.width = `${Math.max(0.5, p * 100)}%`;
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = `${(p * 100).toFixed(1)} %`;
        row.append(label, bar, value);
        return row;
      }),
    );
    prediction.dataset.predicted = seen.predicted;
  }

  return { draw };
}

function stageRow(stage) {
  const row = document.createElement("div");
  row.className = "stage";
  row.dataset.stage = stage.name;
  const title = document.createElement("span");
  title.className = "stage-name";
  title.textContent = `${stage.name} ${stage.shape.join("×")}`;
  row.append(title);
  const values = stage.values;
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (stage.shape.length === 3) {
    const [channels, side] = stage.shape;
    const n = side * side;
    const scale = Math.max(3, Math.floor(32 / side));
    for (let c = 0; c < channels; c++) {
      const canvas = document.createElement("canvas");
      canvas.title = `${stage.name} channel ${c + 1}`;
      paintGrey(canvas, values.slice(c * n, (c + 1) * n), side, scale, { low, high });
      row.append(canvas);
    }
  } else {
    const canvas = document.createElement("canvas");
    const width = Math.min(values.length, 256);
    canvas.width = width * 3;
    canvas.height = 12;
    const ctx = canvas.getContext("2d");
    const limit = largestMagnitude(values) || 1;
    for (let i = 0; i < width; i++) {
      const t = values[i] / limit;
      ctx.fillStyle = t >= 0 ? `rgba(8,119,189,${t})` : `rgba(245,147,34,${-t})`;
      ctx.fillRect(i * 3, 0, 3, 12);
    }
    canvas.title = `${stage.name}: ${values.length} values from ${low.toPrecision(3)} to ${high.toPrecision(3)}`;
    row.append(canvas);
  }
  return row;
}
