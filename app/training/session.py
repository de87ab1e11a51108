"""The engine's public face: the trainer and the records it hands out, by their usual names."""

from app.training.divergence import Divergence
from app.training.evaluation import Evaluation
from app.training.loss_log import LossRecord
from app.training.readouts import LayerSnapshot
from app.training.trainer import BurstResult, TrainingSession

__all__ = [
    "BurstResult",
    "Divergence",
    "Evaluation",
    "LayerSnapshot",
    "LossRecord",
    "TrainingSession",
]
