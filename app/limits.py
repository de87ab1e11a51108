"""Hard limits on what a client may ask for; the protocol's fields are bounded by these."""

MIN_HIDDEN_LAYERS = 1
MAX_HIDDEN_LAYERS = 6
MAX_NEURONS_PER_LAYER = 16
MIN_POINTS = 10
MAX_POINTS = 2000
MIN_LEARNING_RATE = 1e-5
MAX_LEARNING_RATE = 10.0
MAX_BOUNDARY_RESOLUTION = 128
MAX_SCHEDULE_STEPS = 100_000
MAX_PENALTY = 1.0
MAX_GRAD_CLIP_NORM = 100.0
MAX_CSV_BYTES = 100_000
MAX_CHECKPOINT_BYTES = 200_000
# The loss surface: grid points per axis, and how far from the centre a plane may reach.
MIN_SURFACE_RESOLUTION = 21
MAX_SURFACE_RESOLUTION = 101
MAX_SURFACE_SPAN = 100.0
# Pace: steps trained per frame at most (0 = as many as the frame's time allows), and the
# longest "Run N steps".
MAX_STEPS_PER_FRAME = 10_000
MAX_RUN_STEPS = 1_000_000
