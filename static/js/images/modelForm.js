// The model and training settings as the page's controls show them, and back: conv blocks
// added and removed, a dense head, dropout, batch norm, skips, the optimizer's knobs.
const MAX_BLOCKS = 3;

export function createModelForm(root, { onChange }) {
  const blocks = root.querySelector("[data-role=conv-blocks]");
  const addConv = root.querySelector("[data-testid=add-conv-layer]");
  const field = (id) => root.querySelector(`[data-testid=${id}]`);
  let base = { data: {}, model: {}, training: {} };

  addConv.addEventListener("click", () => {
    if (blocks.children.length < MAX_BLOCKS) blocks.append(blockRow({ channels: 16, kernel_size: 3, padding: true, pool: false }));
    changed();
  });
  root.addEventListener("change", (event) => {
    if (event.target.closest("[data-role=live]")) onChange(read(), "training");
    else changed();
  });

  function changed() {
    addConv.disabled = blocks.children.length >= MAX_BLOCKS;
    onChange(read(), "model");
  }

  function blockRow(block) {
    const row = document.createElement("div");
    row.className = "conv-block";
    row.dataset.testid = "conv-block";
    row.innerHTML = `
      <label>channels <input type="number" min="1" max="32" data-name="channels"></label>
      <label>kernel <select data-name="kernel_size"><option value="3">3×3</option><option value="5">5×5</option></select></label>
      <label><input type="checkbox" data-name="padding"> padding</label>
      <label><input type="checkbox" data-name="pool"> max-pool</label>
      <button type="button" class="small" aria-label="Remove this conv block">✕</button>`;
    row.querySelector("[data-name=channels]").value = block.channels;
    row.querySelector("[data-name=kernel_size]").value = String(block.kernel_size);
    row.querySelector("[data-name=padding]").checked = block.padding;
    row.querySelector("[data-name=pool]").checked = block.pool;
    row.querySelector("button").addEventListener("click", () => {
      row.remove();
      changed();
    });
    return row;
  }

  function show(config) {
    base = structuredClone(config);
    blocks.replaceChildren(...config.model.conv_blocks.map(blockRow));
    addConv.disabled = blocks.children.length >= MAX_BLOCKS;
    field("dense-layers").value = config.model.hidden_layers.join(", ");
    field("activation").value = config.model.activation;
    field("dropout").value = config.model.dropout;
    field("batchnorm").checked = config.model.batchnorm;
    field("residual").checked = config.model.residual;
    field("learning-rate").value = config.training.learning_rate;
    field("optimizer").value = config.training.optimizer;
    field("batch-size").value = config.training.batch_size;
    field("dataset").value = config.data.dataset;
  }

  function read() {
    const conv_blocks = [...blocks.children].map((row) => ({
      channels: Number(row.querySelector("[data-name=channels]").value),
      kernel_size: Number(row.querySelector("[data-name=kernel_size]").value),
      padding: row.querySelector("[data-name=padding]").checked,
      pool: row.querySelector("[data-name=pool]").checked,
    }));
    const dense = field("dense-layers").value.split(/[\s,]+/).filter(Boolean).map(Number);
    return {
      data: { ...base.data, dataset: field("dataset").value },
      model: {
        ...base.model,
        conv_blocks,
        hidden_layers: dense,
        activation: field("activation").value,
        dropout: Number(field("dropout").value),
        batchnorm: field("batchnorm").checked,
        residual: field("residual").checked,
      },
      training: {
        ...base.training,
        learning_rate: Number(field("learning-rate").value),
        optimizer: field("optimizer").value,
        batch_size: Number(field("batch-size").value),
      },
    };
  }

  return { show, read };
}
