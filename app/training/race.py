"""The optimizer race: several optimizers trained from the same weights on the same batches."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from app.training.batches import SamplerPosition
from app.training.config import LabConfig, OptimizerName
from app.training.datasets import Dataset
from app.training.directions import flat_params, project_path
from app.training.trainer import TrainingSession

# Up to four paths stay tellable apart on one 300-pixel map.
MAX_RACERS = 4
# 2,000 steps of the largest network take ~1 s per racer on one worker thread.
MAX_RACE_STEPS = 2000
# Points kept per racer (plus the last): more than a 300-pixel map or a loss chart can show.
MAX_RACE_POINTS = 200

OPTIMIZER_LABELS: dict[str, str] = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


@dataclass(frozen=True)
class RacerSettings:
    """One entrant: the optimizer and its learning rate (and momentum, for SGD and RMSprop)."""

    optimizer: OptimizerName
    learning_rate: float
    momentum: float = 0.0

    @property
    def name(self) -> str:
        label = OPTIMIZER_LABELS[self.optimizer]
        if self.momentum > 0 and self.optimizer in ("sgd", "rmsprop"):
            label += f"+momentum {self.momentum:g}"
        return f"{label}, lr {self.learning_rate:g}"


@dataclass(frozen=True)
class RaceStart:
    """The session's state, copied: the race runs from it while the session trains on."""

    step: int
    config: LabConfig
    data: Dataset
    model_state: dict[str, Tensor]
    sampler: SamplerPosition


class RacerRun(NamedTuple):
    settings: RacerSettings
    steps: list[int]  # race steps of the recorded points: 0 (the start), every k, the last
    params: Tensor  # (n, P) flat nn.Linear parameters at those steps (surface.py's layout)
    losses: list[float]  # the training set's data loss there (what the surface plots)
    diverged_at: int | None  # the race step whose loss or parameters stopped being finite


class ProjectedRacer(NamedTuple):
    run: RacerRun
    coords: Tensor  # (n, 2) alpha, beta on the plane
    residual: Tensor  # (n,) distance off the plane


def take_start(session: TrainingSession) -> RaceStart:
    """Copy what the racers need; cheap, so it runs under the session's lock."""
    return RaceStart(
        step=session.step_count,
        config=session.config,
        data=copy.deepcopy(session.data),
        model_state={k: v.detach().clone() for k, v in session.model.state_dict().items()},
        sampler=session.sampler.position(),
    )


def racer_config(config: LabConfig, settings: RacerSettings) -> LabConfig:
    """The session's settings with only the optimizer changed. The schedule is held constant
    so each racer runs at the rate it was given; every other knob (batch size, weight decay,
    clipping, penalties) stays the session's, so the optimizers alone differ."""
    training = config.training.model_validate(
        {
            **config.training.model_dump(),
            "optimizer": settings.optimizer,
            "learning_rate": settings.learning_rate,
            "momentum": settings.momentum,
            "nesterov": False,
            "schedule": "constant",
        }
    )
    return config.model_copy(update={"training": training})


def build_racer(start: RaceStart, settings: RacerSettings) -> TrainingSession:
    """A TrainingSession at the start's weights and batch position, with a fresh optimizer."""
    racer = TrainingSession(racer_config(start.config, settings))
    racer.set_data(start.data)
    racer.reset()  # the model and sampler now follow these points (their count, their outputs)
    # The session keeps the slope of a layer that is no longer PReLU (switching back keeps
    # what it learnt); a racer never switches, so it takes only the slopes it uses.
    wanted = racer.model.state_dict().keys()
    unused = {key for key in start.model_state if key.startswith("prelu.") and key not in wanted}
    racer.model.load_state_dict({k: v for k, v in start.model_state.items() if k not in unused})
    racer.sampler.seek(start.sampler)
    return racer


def record_every(steps: int, max_points: int = MAX_RACE_POINTS) -> int:
    return max(1, math.ceil(steps / max_points))


@torch.no_grad()
def _data_loss(racer: TrainingSession) -> float:
    d = racer.data
    return float(racer.loss_fn(racer.model(d.train_x), d.train_y))


def run_racer(
    racer: TrainingSession,
    settings: RacerSettings,
    steps: int,
    every: int,
    stop: Callable[[], bool] | None = None,
) -> RacerRun:
    """`steps` plain train_steps (no divergence restore: a racer that blows up just stops)."""
    recorded_steps, params, losses = [0], [flat_params(racer.model)], [_data_loss(racer)]
    diverged_at = None
    for step in range(1, steps + 1):
        loss = racer.train_step()
        if not math.isfinite(loss):
            diverged_at = step
            break
        if step % every == 0 or step == steps:
            theta = flat_params(racer.model)
            if not bool(torch.isfinite(theta).all()):
                diverged_at = step
                break
            recorded_steps.append(step)
            params.append(theta)
            losses.append(_data_loss(racer))
        if stop is not None and stop():
            break
    return RacerRun(settings, recorded_steps, torch.stack(params), losses, diverged_at)


def run_race(
    start: RaceStart,
    entrants: list[RacerSettings],
    steps: int,
    stop: Callable[[], bool] | None = None,
) -> list[RacerRun]:
    """Every entrant from the same start on the same batches, one after another."""
    if not 1 <= len(entrants) <= MAX_RACERS:
        raise ValueError(f"a race needs 1 to {MAX_RACERS} entrants, got {len(entrants)}")
    if not 1 <= steps <= MAX_RACE_STEPS:
        raise ValueError(f"a race runs 1 to {MAX_RACE_STEPS} steps, got {steps}")
    every = record_every(steps)
    return [run_racer(build_racer(start, s), s, steps, every, stop) for s in entrants]


def project_race(
    runs: list[RacerRun], center: Tensor, d1: Tensor, d2: Tensor
) -> list[ProjectedRacer]:
    """Each path on the surface's plane, by the same least squares as the session's path."""
    if runs and runs[0].params.shape[1] != center.numel():
        raise ValueError("the race was run on another network than this plane's")
    return [ProjectedRacer(run, *project_path(run.params, center, d1, d2)) for run in runs]
