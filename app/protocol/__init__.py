"""Every websocket message, both directions, as pydantic models: the protocol's one source of truth.

Client messages (requests.py) are validated strictly; server messages (step.py, surface.py,
replies.py) are built by the server and serialised with NaN/inf turned into null, so the browser
always receives valid JSON. The two discriminated unions, and the schema served from them, are here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from app.protocol.base import RunStatus, ServerModel
from app.protocol.deeper import (
    CurvatureFrame,
    CurvatureRequest,
    EditWeightRequest,
    HiddenSpaceFrame,
    HiddenSpaceRequest,
    OpenSweepCellRequest,
    SurgeryFrame,
    SweepFrame,
    SweepRequest,
    SwitchNeuronRequest,
)
from app.protocol.images import image_client_adapter, image_server_adapter
from app.protocol.replies import (
    AutogradEdge,
    AutogradGraphFrame,
    AutogradNode,
    ChainRuleFactors,
    CodeListing,
    DataFrame,
    ErrorFrame,
    GradientCheckResult,
    InspectionFrame,
    Point,
    RewoundFrame,
    RunCurve,
    RunsFrame,
    SampleFrame,
    SampleLayer,
    SessionInfo,
    SettingsFrame,
    ShutdownNotice,
)
from app.protocol.requests import (
    ClientMessage,
    ConfigureRequest,
    ControlAction,
    ControlRequest,
    DrawnPoint,
    EdgeRef,
    EditPointsRequest,
    HelloRequest,
    InspectRequest,
    PlaneCoordinate,
    PointLocation,
    RaceEntry,
    RaceRequest,
    RequestId,
    RewindRequest,
    SampleRequest,
    SetRequest,
    SurfaceRequest,
    client_message_adapter,
)
from app.protocol.room import ChallengeStatus, ClassTiles, RoomState
from app.protocol.step import (
    GradientHealth,
    HealthFlagState,
    Heatmap,
    LayerActivity,
    LayerHealth,
    LayerOptimizerState,
    LayerState,
    LayerUpdate,
    LossPoint,
    PhaseState,
    StepFrame,
    TimelineState,
)
from app.protocol.surface import (
    LossLine,
    RaceFrame,
    RacerPath,
    SurfaceFrame,
    SurfaceGrid,
    SurfacePath,
)

ServerMessage = Annotated[
    SessionInfo
    | DataFrame
    | StepFrame
    | ErrorFrame
    | SettingsFrame
    | ShutdownNotice
    | SurfaceFrame
    | AutogradGraphFrame
    | CodeListing
    | InspectionFrame
    | RunsFrame
    | RewoundFrame
    | SampleFrame
    | RaceFrame
    | RoomState
    | ClassTiles
    | ChallengeStatus
    | CurvatureFrame
    | HiddenSpaceFrame
    | SurgeryFrame
    | SweepFrame,
    Field(discriminator="type"),
]
server_message_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def protocol_json_schema() -> dict[str, Any]:
    return {
        "client": client_message_adapter.json_schema(),
        "server": server_message_adapter.json_schema(mode="serialization"),
        "images_client": image_client_adapter.json_schema(),
        "images_server": image_server_adapter.json_schema(mode="serialization"),
    }


def message_types(adapter: TypeAdapter[Any]) -> set[str]:
    """The `type` names a union accepts, read from its own schema."""
    schema = adapter.json_schema()
    return set(schema["discriminator"]["mapping"])


__all__ = [
    "AutogradEdge",
    "AutogradGraphFrame",
    "AutogradNode",
    "ChainRuleFactors",
    "ClientMessage",
    "CodeListing",
    "ConfigureRequest",
    "ControlAction",
    "ControlRequest",
    "CurvatureFrame",
    "CurvatureRequest",
    "EditWeightRequest",
    "HiddenSpaceFrame",
    "HiddenSpaceRequest",
    "OpenSweepCellRequest",
    "SurgeryFrame",
    "SweepFrame",
    "SweepRequest",
    "SwitchNeuronRequest",
    "DataFrame",
    "DrawnPoint",
    "EdgeRef",
    "EditPointsRequest",
    "ErrorFrame",
    "GradientCheckResult",
    "GradientHealth",
    "HealthFlagState",
    "Heatmap",
    "HelloRequest",
    "InspectRequest",
    "InspectionFrame",
    "LayerActivity",
    "LayerHealth",
    "LayerOptimizerState",
    "LayerState",
    "LayerUpdate",
    "LossLine",
    "LossPoint",
    "PhaseState",
    "PlaneCoordinate",
    "Point",
    "PointLocation",
    "RaceEntry",
    "RaceFrame",
    "RaceRequest",
    "RacerPath",
    "RequestId",
    "RewindRequest",
    "RewoundFrame",
    "RunCurve",
    "RunStatus",
    "RunsFrame",
    "SampleFrame",
    "SampleLayer",
    "SampleRequest",
    "ServerMessage",
    "ServerModel",
    "SessionInfo",
    "SetRequest",
    "SettingsFrame",
    "ShutdownNotice",
    "StepFrame",
    "SurfaceFrame",
    "SurfaceGrid",
    "SurfacePath",
    "SurfaceRequest",
    "TimelineState",
    "client_message_adapter",
    "message_types",
    "protocol_json_schema",
    "server_message_adapter",
]
