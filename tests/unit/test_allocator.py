"""The server's malloc settings take on this machine's glibc (they keep big runs' RSS flat)."""

from __future__ import annotations

import platform

import pytest

from app.allocator import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_allocator_settings() -> None:
    assert tune_allocator() is True
