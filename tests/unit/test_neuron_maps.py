"""A layer's neuron maps on the wire: whatever the activations, finite colours and bounds."""

from __future__ import annotations

import base64

import numpy as np

from app.realtime.frames import layer_heatmaps


def test_a_diverging_relu_layer_near_float32s_limit_still_maps() -> None:
    # A learning rate of 10 drives ReLU activations to ±3e38; their span overflowed float32
    # (a RuntimeWarning, and the run stopped "on an internal error").
    grids = np.full((2, 4, 4), 3e38, dtype=np.float32)
    grids[0, 0, 0] = -3e38
    grids[1, 1, 1] = np.inf
    maps = layer_heatmaps(grids, "relu")
    assert [m.resolution for m in maps] == [4, 4]
    for m in maps:
        assert np.isfinite(m.low) and np.isfinite(m.high) and m.low < m.high
        assert len(base64.b64decode(m.data)) == 16
    first = np.frombuffer(base64.b64decode(maps[0].data), dtype=np.uint8)
    assert first[0] == 0 and first[1] == 255  # the lowest and the highest ends of the scale
