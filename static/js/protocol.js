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
  ROOM_JOIN: "room_join",
  ROOM_TEACH: "room_teach",
  ROOM_PUSH: "room_push",
  ROOM_LOCK: "room_lock",
  ROOM_SPOTLIGHT: "room_spotlight",
  ROOM_RESET: "room_reset",
  ROOM_WATCH: "room_watch",
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
  ROOM_STATE: "room_state",
  CLASS_TILES: "class_tiles",
  CHALLENGE_STATUS: "challenge_status",
});

export const ControlAction = Object.freeze({
  PLAY: "play",
  PAUSE: "pause",
  STEP: "step",
  STEP_PHASE: "step_phase",
  RESET: "reset",
});
