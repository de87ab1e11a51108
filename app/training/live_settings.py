"""Live settings on a run: one change validated whole, then swapped in on the same weights."""

from __future__ import annotations

import torch
from pydantic import ValidationError

from app.training.batches import BatchSampler
from app.training.change import SCHEDULE_FIELDS, SettingsChange, model_updates, setting_error
from app.training.config import LabConfig, ModelConfig, TrainingConfig
from app.training.errors import SettingError
from app.training.model import MLP, ActivationName
from app.training.optimizers import (
    LRScheduler,
    add_parameters,
    apply_options,
    build_optimizer,
    build_scheduler,
)


class LiveSettings:
    """The knobs a learner turns while the run goes on; the trainer provides the run."""

    config: LabConfig
    model: MLP
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    sampler: BatchSampler

    def apply_change(self, change: SettingsChange) -> None:
        """Live settings, validated whole and applied from the next step on the same weights.

        Everything is checked and the new configuration built before anything is touched: on
        a refusal (SettingError naming the field) the run is exactly as it was. A new
        optimizer starts with empty state (momentum, m, v); a new learning rate or schedule
        restarts the schedule from here; every other knob is written into the optimizer's
        param groups, keeping its state.
        """
        old = self.config
        try:
            training = TrainingConfig.model_validate(
                {**old.training.model_dump(), **change.training}
            )
            updates = model_updates(change, len(self.model.layers))
            model = ModelConfig.model_validate({**old.model.model_dump(), **updates})
        except ValidationError as error:
            raise setting_error(error) from None
        if len(model.frozen_layers) == len(self.model.layers):
            raise SettingError(
                "frozen_layers", "at least one layer must stay trainable: nothing would learn"
            )
        changed = {k for k in change.training if getattr(old.training, k) != getattr(training, k)}
        # Validated: from here on every step succeeds, so the swap is whole.
        created = self.model.set_activations(model.activations_per_layer())
        self.model.freeze(set(model.frozen_layers))
        if "optimizer" in changed:
            self.optimizer = build_optimizer(training.optimizer, self.model.parameters(), training)
            self.scheduler = build_scheduler(self.optimizer, training)
        else:
            add_parameters(self.optimizer, created)
            apply_options(self.optimizer, training.optimizer, training)
            if changed & SCHEDULE_FIELDS:
                self.scheduler = build_scheduler(self.optimizer, training)
        if "batch_size" in changed:
            self.sampler.set_batch_size(training.batch_size)
        self.config = old.model_copy(update={"training": training, "model": model})

    def set_training(self, **changes: object) -> None:
        """TrainingConfig fields by name, as one change."""
        self.apply_change(SettingsChange(training=changes))

    def set_activation(self, activation: ActivationName) -> None:
        """The global knob: every hidden layer gets `activation`."""
        self.apply_change(SettingsChange(activation=activation))

    def set_layer_activations(self, activations: list[ActivationName]) -> None:
        """One activation per hidden layer (missing ones keep the global activation)."""
        self.apply_change(SettingsChange(layer_activations=list(activations)))

    def set_frozen_layers(self, frozen_layers: list[int]) -> None:
        """requires_grad_(False) on these layers: no gradient, no update, until unfrozen."""
        self.apply_change(SettingsChange(frozen_layers=frozen_layers))
