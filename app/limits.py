"""Hard limits on what a client may ask for; the protocol's fields are bounded by these."""

MIN_HIDDEN_LAYERS = 1
MAX_HIDDEN_LAYERS = 6
MAX_NEURONS_PER_LAYER = 16
MIN_POINTS = 10
MAX_POINTS = 2000
MIN_LEARNING_RATE = 1e-5
MAX_LEARNING_RATE = 10.0
MAX_BOUNDARY_RESOLUTION = 128
