"""Numbers as they go on the wire: JSON has no NaN or infinity, so those travel as null."""

from __future__ import annotations

import math


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
