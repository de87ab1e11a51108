"""One change of live settings, applied whole or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from app.training.errors import SettingError
from app.training.model import ActivationName


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
