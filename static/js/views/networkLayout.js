// Where the network graph's neurons go in a box: as large as the box allows (up to MAX_NODE),
// columns spread across its width, so the graph never scrolls sideways, six layers of sixteen
// included. Pure arithmetic: tests/js/networkLayout.test.js checks it without a browser.
export const MAX_NODE = 72;
export const MIN_NODE = 14;
export const TOP = 44; // room for each layer's +/− controls and its neuron count
export const LEFT = 50; // room for the input labels (sin X₁) left of the first column
const RIGHT = 12;
const COLUMN_PER_NODE = 1.5; // a column at least 1.5 neurons wide leaves room to see the edges
const GAP_PER_NODE = 0.25;

/**
 * `sizes`: neurons per column (inputs first); `width` × `maxHeight`: the box. Returns the neuron
 * size, the column pitch, the height the graph uses (≤ maxHeight unless MIN_NODE forbids) and
 * each neuron's top-left corner, layers centred on the tallest as Playground draws them.
 */
export function fitNetwork(sizes, width, maxHeight) {
  const tallest = Math.max(...sizes);
  const gaps = sizes.length - 1;
  const byWidth = (width - LEFT - RIGHT) / (COLUMN_PER_NODE * gaps + 1);
  const byHeight = (maxHeight - TOP) / (tallest * (1 + GAP_PER_NODE));
  const node = Math.floor(Math.max(MIN_NODE, Math.min(MAX_NODE, byWidth, byHeight)));
  const column = gaps ? (width - LEFT - RIGHT - node) / gaps : 0;
  const slot = Math.min(node * 2, (maxHeight - TOP) / tallest);
  const positions = sizes.map((count, layer) =>
    Array.from({ length: count }, (_, i) => ({
      x: Math.round(LEFT + layer * column),
      y: Math.round(TOP + ((tallest - count) * slot) / 2 + i * slot + (slot - node) / 2),
    })),
  );
  return { node, column, height: Math.ceil(TOP + slot * tallest), positions };
}
