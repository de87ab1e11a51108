"""The page's message names and fields must be the ones the server's schema defines."""

from __future__ import annotations

import re
from pathlib import Path

from app.protocol import (
    ConfigureRequest,
    ControlRequest,
    SetRequest,
    client_message_adapter,
    message_types,
    server_message_adapter,
)
from app.protocol.images import (
    ImageConfigureRequest,
    ImageControlRequest,
    image_client_adapter,
    image_server_adapter,
)

JS = Path(__file__).resolve().parents[2] / "static" / "js"


def frozen_object(name: str, module: str = "protocol.js") -> dict[str, str]:
    source = (JS / module).read_text()
    body = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\)", source, re.S)
    assert body, f"protocol.js defines no {name}"
    return dict(re.findall(r'(\w+):\s*"([^"]+)"', body.group(1)))


def all_javascript() -> str:
    return "\n".join(p.read_text() for p in sorted(JS.rglob("*.js")))


def test_client_message_names_match_the_schema() -> None:
    assert set(frozen_object("ClientMessage").values()) == message_types(client_message_adapter)


def test_server_message_names_match_the_schema() -> None:
    assert set(frozen_object("ServerMessage").values()) == message_types(server_message_adapter)


def test_control_actions_match_the_schema() -> None:
    actions = ControlRequest.model_json_schema()["properties"]["action"]["enum"]
    assert set(frozen_object("ControlAction").values()) == set(actions)


def test_no_javascript_writes_a_message_type_as_a_literal() -> None:
    # Every message is sent through socket.send(ClientMessage.X, …): no hand-typed names.
    literal_types = re.findall(r'type:\s*"(\w+)"', all_javascript())
    assert literal_types == []
    for call in re.findall(r"socket\.send\(([^,)]+)", all_javascript()):
        assert call.startswith("ClientMessage."), call


def test_every_field_the_page_sends_in_set_and_configure_exists() -> None:
    source = all_javascript()
    set_fields = set(re.findall(r"setLive\(\{\s*(\w+):", source))
    assert set_fields, "main.js sends no live settings?"
    assert set_fields <= set(SetRequest.model_fields)
    configure_keys = set(re.findall(r"(?<!Image)ClientMessage\.CONFIGURE,\s*\{\s*(\w+):", source))
    assert configure_keys and configure_keys <= set(ConfigureRequest.model_fields)


def test_the_digits_lab_s_message_names_match_its_schema() -> None:
    module = "images/protocol.js"
    sent = set(frozen_object("ImageClientMessage", module).values())
    assert sent == message_types(image_client_adapter)
    handled = set(frozen_object("ImageServerMessage", module).values())
    assert handled == message_types(image_server_adapter)
    actions = ImageControlRequest.model_json_schema()["properties"]["action"]["enum"]
    assert set(frozen_object("ImageControlAction", module).values()) == set(actions)


def test_the_digits_lab_sends_only_named_messages() -> None:
    source = "\n".join(p.read_text() for p in sorted((JS / "images").glob("*.js")))
    calls = re.findall(r"channel\.send\(([^,)]+)", source)
    assert calls, "the digits lab sends nothing?"
    assert all(call.startswith("ImageClientMessage.") for call in calls), calls


def test_the_digits_lab_configures_with_fields_its_schema_has() -> None:
    source = "\n".join(p.read_text() for p in sorted((JS / "images").glob("*.js")))
    keys = set(re.findall(r"ImageClientMessage\.CONFIGURE,\s*\{\s*(\w+)", source))
    assert keys and keys <= set(ImageConfigureRequest.model_fields)
