"""Turns an image run's state into its messages: session info, frames, inspections, cells, runs.

Called on the engine worker (they read the model's tensors); the numbers are rounded to what a
picture can show, so a frame stays small.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from app.protocol.base import RunStatus
from app.protocol.images import (
    MAX_CELL_IMAGES,
    CellImage,
    FilterImages,
    ImageCellFrame,
    ImageFrame,
    ImageInspection,
    ImagePhase,
    ImageRewoundFrame,
    ImageRunsFrame,
    ImageRunSummary,
    ImageSessionInfo,
    ImageStage,
    LayerGradients,
    NormStatistics,
    StageMaps,
)
from app.protocol.replies import AutogradGraphFrame, CodeListing
from app.protocol.step import TimelineState
from app.realtime.backprop import autograd_frame
from app.training.autograd_graph import walk_autograd_graph
from app.training.grad_health import gradient_flags
from app.training.images.code_export import export_image_script
from app.training.images.digits import SIDE
from app.training.images.history import ImageTimeline
from app.training.images.network import stage_outputs
from app.training.images.run import ImageRun

# Significant digits kept of weights, gradients, maps and saliencies: far more than a colour
# can show (decimals would not do: a confident model's saliency is ~1e-9 everywhere).
SIGNIFICANT_DIGITS = 6
# A wide MLP's first layer has up to 256 neurons: the first this many are drawn.
MAX_FILTERS = 32


def rounded(values: torch.Tensor) -> list[float]:
    v = values.detach().double().numpy().ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(np.isfinite(v) & (v != 0), np.abs(v), 1.0)
        scale = 10.0 ** (SIGNIFICANT_DIGITS - 1 - np.floor(np.log10(magnitude)))
        out: list[float] = (np.round(v * scale) / scale).tolist()
    return out


def rounded_or_none(values: torch.Tensor) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in rounded(values)]


def session_info(run: ImageRun, run_id: str, resumed: bool = False) -> ImageSessionInfo:
    with torch.no_grad():
        was_training = run.model.training
        run.model.eval()
        outputs = stage_outputs(run.model, run.data.test_x[:1])
        run.model.train(was_training)
    stages = [
        ImageStage(
            name=name,
            module=type(run.model.get_submodule(name)).__name__,
            shape=list(out.shape[1:]),
            parameters=sum(p.numel() for p in run.model.get_submodule(name).parameters()),
        )
        for name, out in outputs
    ]
    return ImageSessionInfo(
        run_id=run_id,
        resumed=resumed,
        config=run.config,
        stages=stages,
        parameter_count=run.parameter_count(),
        n_train=len(run.data.train_x),
        n_test=len(run.data.test_x),
    )


def code_listing(run: ImageRun) -> CodeListing:
    export = export_image_script(run.config)
    return CodeListing(source=export.source, phase_lines=export.phase_lines)


def autograd(run: ImageRun) -> AutogradGraphFrame | None:
    """The graph of the step in progress (after its loss phase), with gradients after backward."""
    loss = run.current_loss()
    return None if loss is None else autograd_frame(walk_autograd_graph(loss, run.model))


def frame(
    run: ImageRun,
    status: RunStatus,
    train_losses: list[float],
    phase: ImagePhase | None = None,
    timeline: ImageTimeline | None = None,
    diverged_reason: str | None = None,
) -> ImageFrame:
    evaluation = run.evaluate()
    filters = run.filters()
    count = min(MAX_FILTERS, len(filters.weights))
    return ImageFrame(
        status=status,
        step=run.step_count,
        epoch=run.epoch,
        learning_rate=float(run.optimizer.param_groups[0]["lr"]),
        train_losses=[loss if math.isfinite(loss) else None for loss in train_losses],
        test_loss=evaluation.test_loss if math.isfinite(evaluation.test_loss) else None,
        test_accuracy=evaluation.test_accuracy,
        confusion=evaluation.confusion.tolist(),
        filters=FilterImages(
            layer=filters.layer,
            count=count,
            side=filters.weights.shape[-1],
            weights=rounded(filters.weights[:count]),
            grads=rounded_or_none(filters.grads[:count]),
        ),
        norms=norm_statistics(run),
        **gradient_health(run),
        phase=phase,
        timeline=None if timeline is None else timeline_state(timeline),
        diverged_reason=diverged_reason,
    )


def timeline_state(timeline: ImageTimeline) -> TimelineState:
    current = timeline.current
    return TimelineState(
        steps=timeline.steps, run=current.id, run_name=current.name, note=timeline.note()
    )


# An earlier run's curve in the runs list: sent only when a run is added, and a few hundred
# points draw it as well as thousands on a chart a few hundred pixels wide.
OVERLAY_POINTS = 500


def runs_frame(timeline: ImageTimeline) -> ImageRunsFrame:
    current = timeline.current.id
    summaries = []
    for r in timeline.runs():
        stride = max(1, math.ceil(len(r.losses) / OVERLAY_POINTS))
        curve = [] if r.id == current else r.losses[::stride]
        summaries.append(
            ImageRunSummary(
                id=r.id,
                name=r.name,
                parent=r.parent,
                branch_step=r.branch_step,
                current=r.id == current,
                curve_steps=[step for step, _ in curve],
                curve_losses=[loss if math.isfinite(loss) else None for _, loss in curve],
            )
        )
    return ImageRunsFrame(runs=summaries)


def rewound_frame(run: ImageRun, timeline: ImageTimeline) -> ImageRewoundFrame:
    curve = timeline.current.losses
    return ImageRewoundFrame(
        step=run.step_count,
        config=run.config,
        curve_steps=[step for step, _ in curve],
        curve_losses=[finite(loss) for _, loss in curve],
    )


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def gradient_health(run: ImageRun) -> dict[str, Any]:
    stats = run.gradient_stats()
    if stats is None:
        return {"gradients": [], "gradient_flags": []}
    names = [name for name, _ in run.weight_layers()]
    layers = [
        LayerGradients(
            name=name,
            grad_norm=finite(float(stats.grad_norm[i])),
            mean_abs_grad=finite(float(stats.mean_abs_grad[i])),
            max_abs_grad=finite(float(stats.max_abs_grad[i])),
            update_ratio=finite(float(stats.update_ratio[i])),
        )
        for i, name in enumerate(names)
    ]
    return {
        "gradients": layers,
        "gradient_flags": [flag.message for flag in gradient_flags(stats, names)],
    }


def norm_statistics(run: ImageRun) -> list[NormStatistics]:
    return [
        NormStatistics(
            name=name,
            running_mean=rounded(module.running_mean),
            running_var=rounded(module.running_var),
            batches_tracked=int(module.num_batches_tracked),
        )
        for name, module in run.model.named_modules()
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d)
        and module.running_mean is not None
        and module.running_var is not None
        and module.num_batches_tracked is not None
    ]


def drawn_image(pixels: list[float]) -> torch.Tensor:
    """64 pixels row by row (as the draw pad sends them) as one 8×8 image."""
    return torch.tensor(pixels, dtype=torch.float32).reshape(SIDE, SIDE)


def inspection(
    run: ImageRun, image: torch.Tensor, label: int | None, target: int | None
) -> ImageInspection:
    seen = run.inspect(image, target)
    return ImageInspection(
        pixels=rounded(image),
        label=label,
        probabilities=rounded(seen.probabilities),
        predicted=int(seen.probabilities.argmax()),
        target=seen.target,
        saliency=rounded(seen.saliency),
        stages=[
            StageMaps(name=name, shape=list(out.shape), values=rounded(out))
            for name, out in seen.stages
        ],
    )


def cell(run: ImageRun, true_class: int, predicted_class: int) -> ImageCellFrame:
    positions = run.test_images_in_cell(true_class, predicted_class, run.evaluate())
    return ImageCellFrame(
        true_class=true_class,
        predicted_class=predicted_class,
        total=len(positions),
        images=[
            CellImage(test_index=i, pixels=rounded(run.data.test_x[i]))
            for i in positions[:MAX_CELL_IMAGES]
        ],
    )
