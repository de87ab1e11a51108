"""Errors the engine raises for a request it cannot honour; the web layer shows them as is."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting that is valid on its own but not for this session, naming its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
