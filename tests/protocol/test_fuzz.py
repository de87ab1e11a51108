"""Fuzzing the websocket of a live server: over 10,000 messages generated from the protocol's own
JSON Schema, mutated, or plain garbage (text, deep nesting, NaN, binary). The server must answer
every invalid one with the error its model describes, write only strict JSON, and keep training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.sync.client import ClientConnection, connect

from app.protocol import (
    ErrorFrame,
    client_message_adapter,
    message_types,
    protocol_json_schema,
    server_message_adapter,
)
from app.realtime.websocket import describe_validation_error
from tests.support.live_server import LiveServer
from tests.support.schema_strategy import from_schema

from .helpers import strict_loads

# Each batch is followed by a sentinel and read back in full before the next. The server keeps
# at most 32 pending replies per page (a hostile client cannot grow its memory), and a valid
# message may earn two (a confirmation and a broadcast): a batch stays below half of that, so
# no reply is dropped however late the server's sender runs, and every reply can be counted.
BATCH = 12
BATCHES = 840
MIN_MESSAGES = 10_000
REPLY_TIMEOUT_SECONDS = 30.0
SERVER_TYPES = message_types(server_message_adapter)

Message = str | bytes

# ---- what is sent ---------------------------------------------------------------------------

schema_messages = from_schema(protocol_json_schema()["client"])


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


nasty_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=10**400) | st.integers(max_value=-(2**63)),
    st.floats(),  # NaN and ±inf included: json.dumps writes them as NaN/Infinity literals
    st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "1e999", "-0", "", "0x10", "null"]),
    st.text(max_size=40),  # any unicode, emoji and right-to-left marks included
    st.lists(st.integers(), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
    st.integers(1, 200).map(nested),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a JSON value, the value itself included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


@st.composite
def mutated_messages(draw: st.DrawFn) -> Any:
    """A schema-valid message with one place broken: replaced, removed, or given a stray key."""
    message = draw(schema_messages)
    path = draw(st.sampled_from(list(paths(message))))
    if not path:
        return draw(nasty_values)
    *parents, last = path
    container = message
    for part in parents:
        container = container[part]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        container[last] = draw(nasty_values)
    elif action == "remove":
        del container[last]
    elif isinstance(container, dict):
        container[draw(st.text(max_size=12))] = draw(nasty_values)
    else:
        container.append(draw(nasty_values))
    return message


def to_text(value: Any, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii)


raw_texts = st.one_of(
    st.text(max_size=200),
    st.integers(1, 20_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 5_000).map(lambda n: '{"type": "set", "learning_rate": ' + "[" * n + "]" * n),
    st.integers(1, 5_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(
        [
            '{"type": "set", "learning_rate": NaN}',
            '{"type": "set", "learning_rate": Infinity}',
            '{"type": "set", "learning_rate": -Infinity}',
            '{"type": "set", "learning_rate": 1e999}',
            '{"type": "set", "batch_size": 1e999}',
            '{"type": "set", "momentum": "NaN"}',
            '{"type": "set", "learning_rate": "Infinity"}',
            '{"type": "set", "type": "control", "action": "play"}',
            '{"type": ["set"]}',
            '{"type": null}',
            "\ufeff" + '{"type": "control", "action": "step"}',
            '{"type": "control", "action": "step"}\u0000',
            '{"type": "configure", "model": {"hidden_layers": [16, 16, 16, 16, 16, 16, 16]}}',
            '{"type": "control", "action": "step"} {"type": "control", "action": "play"}',
            "null",
            "[]",
            '"hello"',
            "1e999",
        ]
    ),
)

fuzz_messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(to_text, schema_messages, st.booleans()),
    st.builds(to_text, mutated_messages(), st.booleans()),
    raw_texts,
    st.binary(max_size=200),
)

# ---- what must come back --------------------------------------------------------------------


def expected_error(message: Message) -> dict[str, Any] | None:
    """The error frame the protocol's own models say this message earns, or None if valid."""
    if isinstance(message, bytes):
        return ErrorFrame(field=None, message="send JSON text, not binary").model_dump()
    try:
        client_message_adapter.validate_json(message)
    except ValidationError as error:
        return describe_validation_error(error, message).model_dump()
    return None


def is_subsequence(wanted: list[Any], seen: list[Any]) -> bool:
    remaining = iter(seen)
    return all(any(item == candidate for candidate in remaining) for item in wanted)


def receive(ws: ClientConnection) -> dict[str, Any]:
    raw = ws.recv(timeout=REPLY_TIMEOUT_SECONDS)
    assert isinstance(raw, str), "the server sent a binary frame"
    message = strict_loads(raw)  # refuses NaN and Infinity, as the browser's JSON.parse does
    assert message["type"] in SERVER_TYPES, message["type"]
    return message


class Exchange:
    """One fuzzing connection: sends a batch, then reads until the batch's sentinel is answered."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent = 0
        self.batches = 0

    def round_trip(self, batch: list[Message]) -> None:
        self.batches += 1
        sentinel = json.dumps({"type": "control", "action": f"sentinel-{self.batches}"})
        sentinel_error = expected_error(sentinel)
        for message in batch:
            self.ws.send(message)
        self.ws.send(sentinel)
        self.sent += len(batch) + 1
        errors = []
        while True:
            message = receive(self.ws)
            if message["type"] != "error":
                continue
            if message == sentinel_error:
                break
            errors.append(message)
        wanted = [e for e in map(expected_error, batch) if e is not None]
        assert is_subsequence(wanted, errors), (wanted, errors)
        assert not [e for e in errors if "internal error" in e["message"]], errors


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    # The fuzzer sends far faster than a page may: lift the per-connection rate limit here.
    server = LiveServer(
        {
            "BACKPROP_MAX_MESSAGES_PER_SECOND": "10000",
            # Smaller pictures per frame: the same code path, at a fraction of the cost.
            "BACKPROP_BOUNDARY_RESOLUTION": "16",
            "BACKPROP_NEURON_MAP_RESOLUTION": "8",
        }
    )
    yield server
    server.stop()


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


# Hypothesis builds the repr of a failing batch to report it, and one of 40,000 brackets is
# over its 30 kB warning limit: as an error that warning would hide the failure it reports.
# Big messages are the point here (nesting past the parser's recursion limit), so not bounded.
@pytest.mark.slow
# A minute on a busy machine, where the default two would be tight.
@pytest.mark.timeout(600)
@pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
def test_ten_thousand_fuzzed_messages_are_each_answered_and_training_goes_on(
    live_server: LiveServer,
) -> None:
    # No keepalive pings: the client's ping thread draws its payload from the global `random`,
    # and one landing while Hypothesis generates a batch (every 20 s: runs on a busy machine
    # last longer) fails the test with "Do not use the random module inside strategies".
    with connect(ws_url(live_server), max_size=2**23, ping_interval=None) as ws:
        ws.send(json.dumps({"type": "hello"}))
        exchange = Exchange(ws)

        @settings(
            max_examples=BATCHES,
            database=None,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(fuzz_messages, min_size=BATCH, max_size=BATCH))
        def every_invalid_message_gets_its_error(batch: list[Message]) -> None:
            exchange.round_trip(batch)

        every_invalid_message_gets_its_error()
        assert exchange.sent >= MIN_MESSAGES

        # The server still trains: a fresh run on this same socket learns.
        ws.send(json.dumps({"type": "hello"}))
        while receive(ws)["type"] != "session":
            pass
        ws.send(json.dumps({"type": "control", "action": "play"}))
        frame: dict[str, Any] = {"step": 0, "status": "idle"}
        while frame["step"] < 50 or frame["status"] != "running":
            message = receive(ws)
            if message["type"] == "frame":
                frame = message
        assert frame["train_loss"] is not None and math.isfinite(frame["train_loss"])
    # One socket saying hello over and over holds one session, not hundreds.
    assert httpx.get(f"{live_server.url}/healthz").json()["sessions"] <= 1
    assert "Traceback" not in live_server.log()
