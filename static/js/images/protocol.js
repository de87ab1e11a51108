// The digits lab's websocket message names (/ws/images). A test checks these against the
// server's /api/schema (images_client, images_server): every send and handler uses them.
export const ImageClientMessage = Object.freeze({
  CONFIGURE: "image_configure",
  CONTROL: "image_control",
  INSPECT: "image_inspect",
  CELL: "image_cell",
  SAMPLE: "image_sample",
  SAVE: "image_save",
  LOAD: "image_load",
  REWIND: "image_rewind",
  LANDSCAPE: "image_landscape",
});

export const ImageServerMessage = Object.freeze({
  SESSION: "image_session",
  FRAME: "image_frame",
  INSPECTION: "image_inspection",
  CELL: "image_cell",
  SAMPLE_CHECK: "image_sample_check",
  MODEL_FILE: "image_model_file",
  RUNS: "image_runs",
  REWOUND: "image_rewound",
  LANDSCAPE: "image_landscape",
  CODE: "code",
  AUTOGRAD: "autograd",
  SHUTDOWN: "shutdown",
  ERROR: "error",
});

export const ImageControlAction = Object.freeze({
  PLAY: "play",
  PAUSE: "pause",
  STEP: "step",
  STEP_PHASE: "step_phase",
  RESET: "reset",
});
