"""The batched engine: runs of one shape stepped together as one stacked computation."""

from app.training.stacked.group import RunGroup
from app.training.stacked.shape import RunShape, changes_shape, grouping_problem, run_shape
from app.training.stacked.verdicts import RunResult

__all__ = ["RunGroup", "RunResult", "RunShape", "changes_shape", "grouping_problem", "run_shape"]
