"""The batched engine: runs of one shape stepped together as one stacked computation."""

from app.training.stacked.group import RunGroup, RunResult
from app.training.stacked.shape import RunShape, changes_shape, grouping_problem, run_shape

__all__ = ["RunGroup", "RunResult", "RunShape", "changes_shape", "grouping_problem", "run_shape"]
