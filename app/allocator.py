"""glibc malloc settings for a long-running server of many small, short-lived tensors.

Each frame of a big model allocates and frees a few megabytes (the boundary grid's activations,
layer by layer). glibc serves large blocks with mmap until one is freed, then raises its mmap
threshold and serves them from the heap, where they fragment: one 2→[16×6]→1 run with a 128²
boundary grew 262 → 854 MB in 25 s, and 262 → 394 MB with the threshold fixed (measured). A
fixed threshold also turns off that adjustment; two arenas bound what many threads can hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENAS = 2


def tune_allocator() -> bool:
    """Apply the settings; False where the C library is not glibc (nothing to tune)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_ARENA_MAX, ARENAS)
    )
    if not applied:
        log.warning("mallopt refused the allocator settings; memory may grow with big models")
    return applied
