"""Neuron surgery on a live session: a weight typed in, a neuron switched off or on.

Applied like a live setting, between two steps; every page learns the edits now in force, and
the next frame shows their effect.
"""

from __future__ import annotations

from app.protocol import EditWeightRequest, StepFrame, SurgeryFrame, SwitchNeuronRequest
from app.realtime.deeper_runner import surgery_frame
from app.realtime.session import LiveSession
from app.training.surgery import NeuronSwitch, Surgery, WeightEdit


async def operate(session: LiveSession, request: EditWeightRequest | SwitchNeuronRequest) -> None:
    """Raises SettingError (a ValueError naming the field) for a weight or neuron not there."""
    engine = session.engine

    def apply() -> tuple[SurgeryFrame, StepFrame | None]:
        edit: Surgery
        if isinstance(request, EditWeightRequest):
            edit = WeightEdit(
                engine.step_count,
                request.layer,
                request.out_neuron,
                request.in_neuron,
                request.value,
            )
            engine.surgery.edit_weight(engine.model, edit)
        else:
            edit = NeuronSwitch(engine.step_count, request.layer, request.neuron, request.on)
            engine.surgery.switch_neuron(engine.model, edit)
        # The loss the edit moved to is the learner's doing, not divergence.
        engine.accept_current_loss()
        return surgery_frame(engine), session.loop.frame_unless_running()

    note, frame = await session.loop.command(apply)
    session.pages.send_to_all(note)
    if frame is not None:
        session.loop.publish(frame)
