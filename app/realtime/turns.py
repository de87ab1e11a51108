"""Whose turn it is on the engine workers, and how long a burst may train.

Every playing session takes turns on the worker(s): the next turn goes to the session that has
had least worker time, and a burst is sized so that a round of all sessions fits the frame
interval, or, when too many share a worker for that, LOADED_ROUND_SECONDS.
"""

from __future__ import annotations

from typing import Any

from app.realtime.groups import TrainingGroups
from app.realtime.image_groups import ImageGroups

# Gradient health and distributions change slowly to the eye; 5 updates a second suffice.
HEALTH_INTERVAL_SECONDS = 0.2
# A burst right after a user's change, and the shortest any burst gets.
MIN_BURST_SECONDS = 0.004
FLOOR_BURST_SECONDS = 0.0015
# With many sessions to a worker, a frame each per frame interval would leave no time to
# train (a frame costs ~1.5-3 ms): the round of all sessions may then stretch to this. Planned
# for 14 frames/s, as the event loop's share of the core is not counted: 20 sessions on one
# worker measured ~12 (at 1/12: ~10, with 60 % more steps).
LOADED_ROUND_SECONDS = 1 / 14


class PlayingSessions:
    """The sessions training right now, and the worker time each has had."""

    def __init__(self, workers: int, reproducible_groups: bool = True) -> None:
        self.workers = workers
        # Playing sessions of one shape train together (groups.py).
        self.groups = TrainingGroups(self.charge, reproducible_groups)
        # And the digits lab's playing runs of one shape (image_groups.py).
        self.image_groups = ImageGroups(self.charge)
        # The round each group is training now, shared by its members' play loops
        # (group_rounds.py): by id(group).
        self.group_rounds: dict[int, Any] = {}
        # Worker seconds each playing session has had: the next turn goes to the one that had
        # least (so a session that got a quick burst after a change waits a little longer).
        self.used: dict[str, float] = {}
        # Smoothed over every session's frames (one figure, so every burst is as long as the
        # others'): evaluation, the last step's overrun and building the frame.
        self.frame_seconds = 0.0

    def join(self, session_id: str) -> None:
        # Level with the others: no catching up on what they had before this one played.
        self.used[session_id] = min(self.used.values(), default=0.0)

    def leave(self, session_id: str) -> None:
        self.used.pop(session_id, None)

    def charge(self, session_id: str, seconds: float) -> None:
        if session_id in self.used:
            self.used[session_id] += seconds

    def turn(self, session_id: str) -> float:
        """The place of this session's next burst in the round (lower goes first)."""
        return self.used.get(session_id, 0.0)

    def measured(self, frame_seconds: float) -> None:
        self.frame_seconds += 0.1 * (frame_seconds - self.frame_seconds)

    def worker_each(self) -> bool:
        """No more playing sessions than workers: each keeps its own frame beat."""
        return len(self.used) <= self.workers

    def health_interval_seconds(self) -> float:
        """Health costs about a frame's worth: with many sessions to a worker it is refreshed
        less often, so their frames and training keep going (5/s up to 4 per worker)."""
        per_worker = len(self.used) / self.workers
        return HEALTH_INTERVAL_SECONDS * max(1.0, per_worker / 4)

    def burst_seconds(self, frame_interval_seconds: float) -> float:
        """Training time of one burst, so that a round of every playing session (each a burst
        and a frame, `workers` at a time) takes one frame interval, or when that would leave
        too little training, at most LOADED_ROUND_SECONDS."""
        per_worker = max(1.0, len(self.used) / self.workers)
        slot = frame_interval_seconds / per_worker
        if slot - self.frame_seconds < MIN_BURST_SECONDS:
            slot = max(slot, LOADED_ROUND_SECONDS / per_worker)
        return max(FLOOR_BURST_SECONDS, slot - self.frame_seconds)
