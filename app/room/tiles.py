"""A student's tile for the class view, built from the frame the student's page was sent."""

from __future__ import annotations

import base64
from collections import deque

from app.protocol import Heatmap, StepFrame
from app.protocol.room import ClassTile
from app.training.config import LabConfig

TILE_RESOLUTION = 16
SPARKLINE_POINTS = 40
MAX_DIFFERENCES = 6


def small_heatmap(heatmap: Heatmap, size: int = TILE_RESOLUTION) -> Heatmap:
    """Every n-th row and column: a tile's picture at a sixteenth of the bytes."""
    if heatmap.resolution <= size:
        return heatmap
    raw = base64.b64decode(heatmap.data)
    n = heatmap.resolution
    picked = [int(i * n / size) for i in range(size)]
    data = bytes(raw[r * n + c] for r in picked for c in picked)
    return Heatmap(
        resolution=size,
        low=heatmap.low,
        high=heatmap.high,
        data=base64.b64encode(data).decode(),
    )


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def differences(config: LabConfig, lesson: LabConfig | None) -> list[str]:
    """Settings of `config` that differ from the lesson, as "name: value" (a few at most)."""
    if lesson is None:
        return []
    mine, theirs = _flat(config.model_dump()), _flat(lesson.model_dump())
    changed = [f"{k.split('.')[-1]}: {v}" for k, v in mine.items() if theirs.get(k) != v]
    return changed[:MAX_DIFFERENCES]


class TileMaker:
    """Keeps the student's recent losses between frames for the sparkline."""

    def __init__(self, student: str, name: str) -> None:
        self.student, self.name = student, name
        self.losses: deque[float | None] = deque(maxlen=SPARKLINE_POINTS)
        self._last_step = -1

    def tile(
        self, frame: StepFrame | None, config: LabConfig, lesson: LabConfig | None
    ) -> ClassTile:
        if frame is not None and frame.step != self._last_step:
            if frame.step < self._last_step:
                self.losses.clear()  # reset or rewound: a new curve
            self._last_step = frame.step
            self.losses.append(frame.train_loss)
        return ClassTile(
            student=self.student,
            name=self.name,
            connected=True,
            step=0 if frame is None else frame.step,
            status="idle" if frame is None else frame.status,
            train_loss=None if frame is None else frame.train_loss,
            test_loss=None if frame is None else frame.test_loss,
            test_accuracy=None if frame is None else frame.test_accuracy,
            sparkline=list(self.losses),
            boundary=None if frame is None else small_heatmap(frame.boundary),
            differs=differences(config, lesson),
        )
