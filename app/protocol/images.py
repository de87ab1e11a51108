"""The image lab's websocket messages (`/ws/images`), both directions: its own two unions.

The digits lab is a page of its own with its own socket, so its messages never reach the 2-D
lab's dispatcher; they are served in /api/schema next to the 2-D lab's, as `images_client` and
`images_server`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, model_validator

from app import limits
from app.protocol.base import RunStatus, ServerModel
from app.protocol.replies import AutogradGraphFrame, CodeListing, ErrorFrame, ShutdownNotice
from app.protocol.step import TimelineState
from app.protocol.surface import LossLine, SurfacePath
from app.training.config import StrictModel
from app.training.images.config import ImageLabConfig
from app.training.images.digits import N_CLASSES, SIDE
from app.training.images.landscape import MAX_RESOLUTION, MAX_SPAN, MIN_RESOLUTION
from app.training.phases import Phase

ImageControlAction = Literal["play", "pause", "step", "step_phase", "reset"]
ClassId = Annotated[int, Field(ge=0, lt=N_CLASSES)]
Pixel = Annotated[float, Field(ge=0.0, le=1.0)]
# The most images a confusion-matrix cell sends back (a cell of a fresh model holds hundreds).
MAX_CELL_IMAGES = 60
# A model file of the largest size allowed, as base64; its load message is that much longer
# than the socket's usual limit, so the socket admits it (image_socket.py).
MAX_MODEL_FILE_BASE64 = 4 * (limits.MAX_CHECKPOINT_BYTES // 3 + 1)


class ImageConfigureRequest(StrictModel):
    """New settings: a changed model or data rebuilds the run; a change of training settings
    alone (learning rate, optimizer, batch size…) applies to the next step, weights kept."""

    type: Literal["image_configure"]
    config: ImageLabConfig


class ImageControlRequest(StrictModel):
    type: Literal["image_control"]
    action: ImageControlAction


class ImageInspectRequest(StrictModel):
    """One image to look through: a test image by its position, or 64 drawn pixels (row by
    row, 0 = blank, 1 = full ink). `target`: the class the saliency is for (default: the
    predicted one)."""

    type: Literal["image_inspect"]
    test_index: Annotated[int, Field(ge=0)] | None = None
    pixels: Annotated[list[Pixel], Field(min_length=SIDE * SIDE, max_length=SIDE * SIDE)] | None = (
        None
    )
    target: ClassId | None = None

    @model_validator(mode="after")
    def _one_image(self) -> ImageInspectRequest:
        if (self.test_index is None) == (self.pixels is None):
            raise ValueError("give either test_index or pixels")
        return self


class ImageCellRequest(StrictModel):
    """The test images behind one confusion-matrix cell."""

    type: Literal["image_cell"]
    true_class: ClassId
    predicted_class: ClassId


class ImageSampleRequest(StrictModel):
    """One sample by hand: ∂L/∂w of the first layer's weight [unit, row, col] for training
    image `sample`, by autograd and by a finite difference."""

    type: Literal["image_sample"]
    sample: Annotated[int, Field(ge=0)]
    unit: Annotated[int, Field(ge=0)]
    row: Annotated[int, Field(ge=0, lt=SIDE)]
    col: Annotated[int, Field(ge=0, lt=SIDE)]


class ImageSaveRequest(StrictModel):
    """The run's model file (settings, weights, step), for the page to download."""

    type: Literal["image_save"]


class ImageLoadRequest(StrictModel):
    """A model file the page read, base64: the run is rebuilt with its settings and weights."""

    type: Literal["image_load"]
    data: Annotated[str, Field(max_length=MAX_MODEL_FILE_BASE64)]


class ImageRewindRequest(StrictModel):
    """Back to a kept step (the timeline): weights, optimizer, schedule, batch order, dropout
    state and settings as they were there. Training on from it starts a new run, a branch."""

    type: Literal["image_rewind"]
    step: int = Field(ge=0, le=10**9)


class ImageLandscapeRequest(StrictModel):
    """The loss over a plane through the current weights: two seeded, filter-normalised random
    directions, a resolution × resolution grid over α, β ∈ [−span, span]. A snapshot: it is
    computed once, for the weights at the time of the request."""

    type: Literal["image_landscape"]
    resolution: int = Field(21, ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    span: float = Field(1.0, gt=0.0, le=MAX_SPAN)
    seed: int = Field(0, ge=0, le=2**31 - 1)


ImageClientMessage = Annotated[
    ImageConfigureRequest
    | ImageControlRequest
    | ImageInspectRequest
    | ImageCellRequest
    | ImageSampleRequest
    | ImageSaveRequest
    | ImageLoadRequest
    | ImageRewindRequest
    | ImageLandscapeRequest,
    Field(discriminator="type"),
]
image_client_adapter: TypeAdapter[ImageClientMessage] = TypeAdapter(ImageClientMessage)


class ImageStage(ServerModel):
    """One stage of the model: its name (conv1, pool1, dense1, output…), the torch module it
    is, and the shape of its output for one image (channels, height, width) or (width,)."""

    name: str
    module: str
    shape: list[int]
    parameters: int


class ImageSessionInfo(ServerModel):
    type: Literal["image_session"] = "image_session"
    # The key a reconnecting page asks for its run by (`/ws/images?session=…`, the query
    # parameter nginx keeps a run on one replica by); unguessable.
    run_id: str
    # True when the page got back a run it had (after a reconnect, a reload or a restart).
    resumed: bool = False
    config: ImageLabConfig
    stages: list[ImageStage]
    parameter_count: int
    n_train: int
    n_test: int
    # The largest model file Load accepts: the page refuses a larger one before sending it.
    max_model_file_bytes: int = limits.MAX_CHECKPOINT_BYTES


class FilterImages(ServerModel):
    """The first layer's weights as small images, and their gradient from the last backward:
    `count` images of side×side, row by row, concatenated. A gradient is null where it was not
    a number (the backward that diverged)."""

    layer: str
    count: int
    side: int
    weights: list[float]
    grads: list[float | None]


class ImagePhase(ServerModel):
    """Where a step taken phase by phase stands: `done` just ran, `next` runs next."""

    step: int
    done: Phase
    next: Phase


class NormStatistics(ServerModel):
    """A batch-norm layer's running statistics: what eval mode normalises with."""

    name: str
    running_mean: list[float]
    running_var: list[float]
    batches_tracked: int


class LayerGradients(ServerModel):
    """One weight layer's last step: ‖∂L/∂W‖, mean and max |∂L/∂W|, and ‖Δw‖/‖w‖."""

    name: str
    grad_norm: float | None
    mean_abs_grad: float | None
    max_abs_grad: float | None
    update_ratio: float | None


class ImageFrame(ServerModel):
    type: Literal["image_frame"] = "image_frame"
    status: RunStatus
    # Why the run diverged (a loss not a number, weights or a loss blown up), when it has.
    diverged_reason: str | None = None
    step: int
    epoch: float
    learning_rate: float
    # The training losses of the steps since the last frame (a curve drawn without gaps);
    # null for the loss that was not a number (the run diverged there, its step not taken).
    train_losses: list[float | None]
    test_loss: float | None
    test_accuracy: float
    # Row = true class, column = predicted, counted over the test images in eval mode.
    confusion: list[list[int]]
    filters: FilterImages
    norms: list[NormStatistics] = []
    # Gradient health: per weight layer, and what looks wrong (vanishing, exploding…).
    gradients: list[LayerGradients] = []
    gradient_flags: list[str] = []
    # Set while stepping phase by phase, for the code panel's highlighted line.
    phase: ImagePhase | None = None
    # The steps one can rewind to and the current run (the plane lab's timeline, the same).
    timeline: TimelineState | None = None


class StageMaps(ServerModel):
    """One stage's output for the inspected image, flattened (its `shape` says how)."""

    name: str
    shape: list[int]
    values: list[float]


class ImageInspection(ServerModel):
    type: Literal["image_inspection"] = "image_inspection"
    pixels: list[float]
    label: int | None  # the test image's true class; None for a drawing
    probabilities: list[float]
    predicted: int
    target: int
    saliency: list[float]
    stages: list[StageMaps]


class CellImage(ServerModel):
    test_index: int
    pixels: list[float]


class ImageCellFrame(ServerModel):
    type: Literal["image_cell"] = "image_cell"
    true_class: int
    predicted_class: int
    total: int
    images: list[CellImage]


class ImageSampleCheck(ServerModel):
    type: Literal["image_sample_check"] = "image_sample_check"
    sample: int
    label: int
    weight: str
    value: float
    loss: float | None
    autograd: float | None
    numeric: float | None
    step_size: float


class ImageModelFile(ServerModel):
    type: Literal["image_model_file"] = "image_model_file"
    filename: str
    data: str  # base64 of the torch file


class ImageRunSummary(ServerModel):
    """A run kept: the current one, the runs it branched from, the runs before a reset."""

    id: int
    name: str
    parent: int | None
    branch_step: int
    current: bool
    # An earlier run's training-loss curve, for the overlay (at most OVERLAY_POINTS; empty for
    # the current run, whose curve the page builds from its frames).
    curve_steps: list[int] = []
    curve_losses: list[float | None] = []


class ImageRunsFrame(ServerModel):
    """The runs kept, sent when one is added or renamed (and to a page that opens)."""

    type: Literal["image_runs"] = "image_runs"
    runs: list[ImageRunSummary]


class ImageRewoundFrame(ServerModel):
    """After a rewind: the step now shown, the settings in force there (for the controls), and
    the current run's training-loss curve (its later part too, until training on branches)."""

    type: Literal["image_rewound"] = "image_rewound"
    step: int
    config: ImageLabConfig
    curve_steps: list[int]
    curve_losses: list[float | None]


class ImageLandscapeFrame(ServerModel):
    """The loss over the plane around the weights at `step`, in eval mode (batch norm's running
    statistics, no dropout), averaged over `images` fixed training images. `loss[i][j]` is at
    β = betas[i], α = alphas[j] (row 0 at β = −span); null where the loss was not a number.
    The path is the run's recorded weights projected on the plane (its last point is now), and
    the line is the loss on the straight segment from the path's first weights to now."""

    type: Literal["image_landscape"] = "image_landscape"
    step: int
    resolution: int
    span: float
    seed: int
    alphas: list[float]
    betas: list[float]
    loss: list[list[float | None]]
    low: float | None
    high: float | None
    center_loss: float | None
    images: int
    path: SurfacePath
    line: LossLine
    compute_ms: float


ImageServerMessage = Annotated[
    ImageSessionInfo
    | ImageFrame
    | ImageInspection
    | ImageCellFrame
    | CodeListing
    | AutogradGraphFrame
    | ImageSampleCheck
    | ImageModelFile
    | ShutdownNotice
    | ImageRunsFrame
    | ImageRewoundFrame
    | ImageLandscapeFrame
    | ErrorFrame,
    Field(discriminator="type"),
]
image_server_adapter: TypeAdapter[ImageServerMessage] = TypeAdapter(ImageServerMessage)
