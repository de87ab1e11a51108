"""Numbers as they go on the wire: JSON has no NaN or infinity, so those travel as null, and
arrays of floats travel as base64 of little-endian float32."""

from __future__ import annotations

import base64
import math

import numpy as np


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def array_base64(values: np.ndarray, dtype: str) -> str:
    """Row-major bytes of `values` as `dtype` (little-endian), base64: the one array encoding
    on the wire (float32 parameters, uint16 surface codes, uint8 heat maps)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode()


def float32_base64(values: np.ndarray) -> str:
    """The values PyTorch holds, 4x cheaper to encode and 3x smaller than JSON numbers."""
    return array_base64(values, "<f4")
