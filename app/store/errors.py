"""What goes wrong with a stored record or with the store itself, each with its reason."""

from __future__ import annotations

from typing import Literal

RecordProblem = Literal["oversized", "truncated", "corrupt", "foreign", "version"]


class RecordError(ValueError):
    """A record this server will not load; `reason` says which kind of problem it is."""

    reason: RecordProblem = "corrupt"


class OversizedRecord(RecordError):
    reason: RecordProblem = "oversized"


class TruncatedRecord(RecordError):
    reason: RecordProblem = "truncated"


class CorruptRecord(RecordError):
    reason: RecordProblem = "corrupt"


class ForeignRecord(RecordError):
    """Not a run record at all (another program's bytes under our key, or random data)."""

    reason: RecordProblem = "foreign"


class UnsupportedVersion(RecordError):
    """A run record of a schema this server does not read (written by a newer or older one)."""

    reason: RecordProblem = "version"


class StoreUnavailable(Exception):
    """The store did not answer (down, refused the password, timed out); the message says how."""


class InvalidKey(ValueError):
    """A session id or key that is not of the shape the store accepts."""
