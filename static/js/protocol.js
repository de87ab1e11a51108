// The websocket message names. A test checks these against the server's /api/schema,
// so the two sides cannot drift apart; every send and every handler uses these constants.
export const ClientMessage = Object.freeze({
  HELLO: "hello",
  CONFIGURE: "configure",
  SET: "set",
  CONTROL: "control",
  SURFACE: "surface",
  EDIT_POINTS: "edit_points",
  INSPECT: "inspect",
  REWIND: "rewind",
  SAMPLE: "sample",
  RACE: "race",
  CURVATURE: "curvature",
  HIDDEN_SPACE: "hidden_space",
  EDIT_WEIGHT: "edit_weight",
  SWITCH_NEURON: "switch_neuron",
  SWEEP: "sweep",
  OPEN_SWEEP_CELL: "open_sweep_cell",
});

export const ServerMessage = Object.freeze({
  SESSION: "session",
  DATA: "data",
  FRAME: "frame",
  ERROR: "error",
  SHUTDOWN: "shutdown",
  SURFACE: "surface",
  AUTOGRAD: "autograd",
  CODE: "code",
  INSPECTION: "inspection",
  RUNS: "runs",
  REWOUND: "rewound",
  SAMPLE: "sample",
  RACE: "race",
  SETTINGS: "settings",
  CURVATURE: "curvature",
  HIDDEN_SPACE: "hidden_space",
  SURGERY: "surgery",
  SWEEP: "sweep",
});

export const ControlAction = Object.freeze({
  PLAY: "play",
  PAUSE: "pause",
  STEP: "step",
  STEP_PHASE: "step_phase",
  RESET: "reset",
  RUN: "run", // with `steps`: play exactly that many steps, then pause
});
