"""Every client message but `hello` has its handler in the websocket's dispatch table."""

from __future__ import annotations

from app.protocol import client_message_adapter, message_types
from app.realtime.websocket import HANDLERS


def test_every_message_type_after_hello_has_a_handler() -> None:
    handled = {model.model_fields["type"].annotation.__args__[0] for model in HANDLERS}
    assert handled == message_types(client_message_adapter) - {"hello"}
