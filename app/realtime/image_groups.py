"""Image groups: playing digits runs of one shape trained as one stacked computation.

A playing page's burst job asks `burst()` for its steps. A run that can group joins the group
of its shape, or forms one with another playing run of its shape that trains alone; a group
trains when a member's job finds no steps of its own waiting, for every member at once, and
each member's steps wait for its own job (its frame). Every other engine touch of a run goes
through `withdraw()` first (the page's engine jobs do it), which hands the run back whole, so
the page cannot tell which path ran. All image engine work holds `lock`: a group's burst
writes several pages' runs at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.training.images.run import ImageRun
from app.training.images.stacked import ImageGroup, grouping_problem, image_shape

# A member whose page has not taken this many of the group's steps (a stuck socket) leaves
# the group: it trains again when it asks for its steps.
MAX_WAITING_STEPS = 2000


@dataclass
class ImageMember:
    run: ImageRun
    # Losses of the steps the group took for it since its last burst (NaN: not taken).
    waiting: list[float] = field(default_factory=list)


@dataclass
class ImageGroupStats:
    groups: int
    grouped_steps: int  # member steps taken in groups
    eager_steps: int


class ImageGroups:
    def __init__(self, charge: Callable[[str, float], None]) -> None:
        self.lock = threading.RLock()
        self._charge = charge
        self._members: dict[str, ImageMember] = {}
        # Pages playing now: written on the event loop (add and discard only, never iterated
        # there), read by the workers, so a stop needs no lock and a burst that starts after
        # it cannot put the run back into a group.
        self._playing: set[str] = set()
        self._group_of: dict[str, ImageGroup] = {}
        self._grouped_steps = 0
        self._eager_steps = 0

    def stats(self) -> ImageGroupStats:
        groups = {id(g) for g in self._group_of.values()}
        return ImageGroupStats(len(groups), self._grouped_steps, self._eager_steps)

    def started(self, live_id: str) -> None:
        """The page plays: its bursts may train in a group (no lock needed)."""
        self._playing.add(live_id)

    def stopped(self, live_id: str) -> None:
        """The page stopped playing: a group's next burst hands its run back (no lock)."""
        self._playing.discard(live_id)

    def grouped(self, live_id: str) -> bool:
        """Whether the run is in a group now (its state then is the group's until synced)."""
        return live_id in self._group_of

    def take_out(self, live_id: str) -> list[float]:
        """Out of its group, whole (holding `lock`), before anything else touches the run; and
        the losses of the steps the group took for it that its page has not been given yet."""
        member = self._members.get(live_id)
        waiting: list[float] = []
        if member is not None:
            waiting, member.waiting = member.waiting, []
        self.withdraw(live_id)
        return waiting

    def withdraw(self, live_id: str) -> None:
        """Out of its group, whole (holding `lock`): before anything else touches the run."""
        group = self._group_of.pop(live_id, None)
        member = self._members.get(live_id)
        if group is not None and member is not None:
            group.leave(member.run)
            if len(group.members) == 1:  # a group of one would only slow its steps
                (last,) = self._ids_in(group)
                group.leave(self._members[last].run)
                del self._group_of[last]
        if member is not None and live_id not in self._playing:
            del self._members[live_id]

    def burst(
        self, live_id: str, run: ImageRun, seconds: float, step: Callable[[], float]
    ) -> tuple[list[float], bool]:
        """The page's steps for one frame (holding `lock`): those the group took for it, or
        a burst of its group (or of its run alone, by `step()`) of `seconds`; and whether a
        group took them (then nobody has seen them step by step). The run is readable after
        (its group's state written back); a NaN loss ends the list (the run diverged)."""
        self._forget_stopped()
        if live_id not in self._playing:  # a burst that started as its page stopped
            return self._charged_alone(live_id, step, seconds), False
        member = self._members.get(live_id)
        if member is None or member.run is not run:
            self.withdraw(live_id)
            member = self._members[live_id] = ImageMember(run)
        if not member.waiting:
            group = self._place(live_id, member)
            if group is None:
                return self._charged_alone(live_id, step, seconds), False
            self._train(group, seconds)
        losses, member.waiting = member.waiting, []
        group = self._group_of.get(live_id)
        if group is not None:
            group.sync_out(run)
        return losses, True

    def _forget_stopped(self) -> None:
        """Closed or paused pages out of groups: nothing of theirs is kept."""
        for live_id in [i for i in self._members if i not in self._playing]:
            if live_id not in self._group_of:
                del self._members[live_id]

    def _charged_alone(
        self, live_id: str, step: Callable[[], float], seconds: float
    ) -> list[float]:
        start, losses = time.perf_counter(), []
        while time.perf_counter() - start < seconds:
            losses.append(step())
            self._eager_steps += 1
            if not math.isfinite(losses[-1]):
                break
        self._charge(live_id, time.perf_counter() - start)
        return losses

    def _place(self, live_id: str, member: ImageMember) -> ImageGroup | None:
        """Its group: the one it is in, the one of its shape, or a new one with a playing run
        of its shape that trains alone (a group of one would only slow its steps)."""
        if live_id in self._group_of:
            return self._group_of[live_id]
        if grouping_problem(member.run) is not None:
            return None
        shape = image_shape(member.run)
        for group in set(self._group_of.values()):
            if group.shape == shape:
                self._drop_stopped(group)
                if group.members:
                    group.join(member.run)
                    self._group_of[live_id] = group
                    return group
        for other_id, other in self._members.items():
            if (
                other_id != live_id
                and other_id in self._playing
                and other_id not in self._group_of
                and not other.waiting
                and grouping_problem(other.run) is None
                and image_shape(other.run) == shape
            ):
                group = ImageGroup([other.run, member.run])
                self._group_of[other_id] = self._group_of[live_id] = group
                return group
        return None

    def _ids_in(self, group: ImageGroup) -> list[str]:
        return [live_id for live_id, g in self._group_of.items() if g is group]

    def _drop_stopped(self, group: ImageGroup) -> None:
        for live_id in self._ids_in(group):
            if live_id not in self._playing:
                self.withdraw(live_id)

    def _train(self, group: ImageGroup, seconds: float) -> None:
        """Steps of every member for `seconds`; a member whose loss stops being finite leaves
        at that step, as its eager burst would stop there."""
        self._drop_stopped(group)
        start = time.perf_counter()
        while group.members and time.perf_counter() - start < seconds:
            ids = {id(m.run): live_id for live_id, m in self._members.items()}
            members = [ids[id(run)] for run in group.members]
            losses = group.train_steps(1)[0].tolist()
            self._grouped_steps += len(members)
            for live_id, loss in zip(members, losses, strict=True):
                member = self._members[live_id]
                member.waiting.append(loss)
                if not math.isfinite(loss) or len(member.waiting) >= MAX_WAITING_STEPS:
                    self.withdraw(live_id)
        elapsed = time.perf_counter() - start
        for live_id in self._ids_in(group):
            self._charge(live_id, elapsed / max(1, len(group.members)))
