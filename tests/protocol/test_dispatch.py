"""Every client message but `hello` has its handler: the websocket's dispatch table for a run's
commands, the room's (app/room/commands.py) for class room messages."""

from __future__ import annotations

from app.protocol import client_message_adapter, message_types
from app.realtime.websocket import HANDLERS
from app.room.commands import ROOM_REQUESTS


def test_every_message_type_after_hello_has_a_handler() -> None:
    models = [*HANDLERS, *ROOM_REQUESTS]
    handled = {model.model_fields["type"].annotation.__args__[0] for model in models}
    assert handled == message_types(client_message_adapter) - {"hello"}
