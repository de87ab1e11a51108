"""One change of live settings, applied whole or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from app.training.errors import SettingError
from app.training.model import ActivationName

# Changing any of these restarts the learning-rate schedule from the current step.
SCHEDULE_FIELDS = frozenset(
    {"learning_rate", "schedule", "schedule_step_size", "schedule_gamma", "schedule_steps"}
)


@dataclass(frozen=True)
class SettingsChange:
    """What a learner changed while the run goes on: TrainingConfig fields by name, and the
    model knobs that keep the weights (activations, frozen layers). None means "unchanged"."""

    training: Mapping[str, object] = field(default_factory=dict)
    activation: ActivationName | None = None
    layer_activations: list[ActivationName] | None = None
    frozen_layers: list[int] | None = None


def setting_error(error: ValidationError) -> SettingError:
    """The first problem pydantic found, as a SettingError naming its field."""
    first = error.errors(include_url=False)[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    return SettingError(name, f"{name}: {first['msg']}")


def model_updates(change: SettingsChange, n_layers: int) -> dict[str, object]:
    """The ModelConfig fields `change` sets, for a model of `n_layers` linear layers (frozen
    indices past its end are dropped)."""
    updates: dict[str, object] = {}
    if change.activation is not None:
        updates.update(activation=change.activation, layer_activations=None)
    if change.layer_activations is not None:
        updates["layer_activations"] = list(change.layer_activations)
    if change.frozen_layers is not None:
        kept = {i for i in change.frozen_layers if 0 <= i < n_layers}
        updates["frozen_layers"] = sorted(kept)
    return updates
