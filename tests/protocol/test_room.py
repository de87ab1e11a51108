"""A class room over the websocket: who may do what, and what every page sees."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import receive_until, send

XSS_NAME = "<img src=x onerror=alert(1)>"


def start_class(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/rooms")
    assert response.status_code == 200
    room: dict[str, Any] = response.json()
    return room


def join(client: TestClient, code: str, name: str) -> dict[str, Any]:
    response = client.post("/api/rooms/join", json={"code": code, "name": name})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def enter(ws: Any, **room_message: Any) -> dict[str, Any]:
    """Hello, then join or teach; the room as the server sends it."""
    send(ws, type="hello")
    receive_until(ws, "session")
    send(ws, **room_message)
    return receive_until(ws, "room_state")


def test_a_student_joins_with_a_name_that_stays_text_and_the_teacher_sees_it(
    client: TestClient,
) -> None:
    room = start_class(client)
    assert len(room["code"]) == 6 and len(room["secret"]) >= 32  # 192 random bits
    student = join(client, room["code"].lower(), f"  {XSS_NAME}\n")
    with client.websocket_connect("/ws") as teacher, client.websocket_connect("/ws") as ws:
        state = enter(teacher, type="room_teach", code=room["code"], secret=room["secret"])
        assert state["role"] == "teacher"
        mine = enter(ws, type="room_join", code=room["code"], token=student["token"])
        assert mine["role"] == "student" and mine["you"] == student["student"]
        # The teacher hears of the new member, its name exactly as typed (trimmed).
        for _ in range(20):
            state = receive_until(teacher, "room_state")
            if state["roster"]:
                break
        assert state["roster"] == [{"id": student["student"], "name": XSS_NAME}]
        tiles = receive_until(teacher, "class_tiles")
        assert tiles["tiles"][0]["name"] == XSS_NAME


def test_names_are_bounded_and_not_empty(client: TestClient) -> None:
    code = start_class(client)["code"]
    too_long = client.post("/api/rooms/join", json={"code": code, "name": "a" * 41})
    empty = client.post("/api/rooms/join", json={"code": code, "name": " \t\u0000 "})
    assert too_long.status_code == 400 and empty.status_code == 400
    assert too_long.json()["detail"]["field"] == "name"


def test_guessing_room_codes_is_refused_after_ten_misses(client: TestClient) -> None:
    code = start_class(client)["code"]
    misses = [
        client.post("/api/rooms/join", json={"code": "ZZZZZZ", "name": "guess"}).status_code
        for _ in range(10)
    ]
    assert misses == [400] * 10
    # Even the right code is refused now: the guesser cannot tell it from a wrong one.
    right = client.post("/api/rooms/join", json={"code": code, "name": "guess"})
    assert right.status_code == 429


def test_a_student_socket_cannot_push_lock_spotlight_reset_or_watch_another_run(
    client: TestClient,
) -> None:
    room = start_class(client)
    code = room["code"]
    alice, bob = join(client, code, "Alice"), join(client, code, "Bob")
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        enter(a, type="room_join", code=code, token=alice["token"])
        enter(b, type="room_join", code=code, token=bob["token"])
        for message in (
            {"type": "room_push", "challenge": "xor-without-product"},
            {"type": "room_lock", "locked": True},
            {"type": "room_spotlight", "student": alice["student"]},
            {"type": "room_reset"},
        ):
            send(b, **message)
            assert receive_until(b, "error")["message"] == "only the teacher can do that"
        send(b, type="room_watch", student=alice["student"])
        error = receive_until(b, "error")
        assert error["field"] == "student" and "spotlight" in error["message"]
        # A made-up teacher secret is refused too.
        send(b, type="room_teach", code=code, secret="x" * 32)
        assert receive_until(b, "error")["field"] == "secret"


def test_the_teacher_locks_controls_pushes_a_challenge_and_spotlights_a_run(
    client: TestClient,
) -> None:
    room = start_class(client)
    code = room["code"]
    alice, bob = join(client, code, "Alice"), join(client, code, "Bob")
    teach = {"type": "room_teach", "code": code, "secret": room["secret"]}
    with (
        client.websocket_connect("/ws") as teacher,
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws") as b,
    ):
        enter(teacher, **teach)
        enter(a, type="room_join", code=code, token=alice["token"])
        enter(b, type="room_join", code=code, token=bob["token"])

        send(teacher, type="room_lock", locked=True)
        assert wait_for_state(b, lambda s: s["locked"])
        send(b, type="control", action="play")
        assert "eyes on me" in receive_until(b, "error")["message"]
        send(teacher, type="room_lock", locked=False)
        assert wait_for_state(b, lambda s: not s["locked"])

        send(teacher, type="room_push", challenge="xor-without-product", hide=["optimizer"])
        state = wait_for_state(b, lambda s: s["challenge"] is not None)
        assert state["challenge"]["id"] == "xor-without-product"
        assert state["hide"] == ["optimizer"]
        # Then the student's run is rebuilt with the challenge's starting configuration.
        settings = receive_until(b, "settings")
        assert settings["config"]["data"]["dataset"] == "xor"
        assert settings["config"]["model"]["hidden_layers"] == [2]

        send(teacher, type="room_spotlight", student=alice["student"])
        assert wait_for_state(b, lambda s: s["spotlight"] == alice["student"])
        send(b, type="room_watch", student=alice["student"])
        watching = wait_for_state(b, lambda s: s["watching"] == alice["student"])
        assert watching["watching"] == alice["student"]
        # Watching is read-only: a command on the spotlighted run is refused.
        send(b, type="control", action="reset")
        assert "read-only" in receive_until(b, "error")["message"]


def wait_for_state(ws: Any, condition: Any, limit: int = 30) -> dict[str, Any]:
    for _ in range(limit):
        state = receive_until(ws, "room_state")
        if condition(state):
            return state
    raise AssertionError("the room never reached the state")


def test_the_server_records_a_met_challenge_for_the_student_and_the_scoreboard(
    client: TestClient, monkeypatch: Any
) -> None:
    from app.room import challenges

    # A goal every run meets at its first evaluated frame: the checking path, end to end.
    easy = challenges.CHALLENGES["xor-without-product"].model_copy(
        update={"id": "easy-xor", "goal": challenges.ChallengeGoal(metric="test_loss", target=99)}
    )
    monkeypatch.setitem(challenges.CHALLENGES, "easy-xor", easy)
    room = start_class(client)
    code = room["code"]
    alice = join(client, code, "=Alice")
    with client.websocket_connect("/ws") as teacher, client.websocket_connect("/ws") as a:
        enter(teacher, type="room_teach", code=code, secret=room["secret"])
        enter(a, type="room_join", code=code, token=alice["token"])
        send(teacher, type="room_push", challenge="easy-xor")
        wait_for_state(a, lambda s: s["challenge"] is not None)
        status = receive_until(a, "challenge_status")
        for _ in range(20):
            if status["state"] == "met":
                break
            status = receive_until(a, "challenge_status")
        # The pushed lesson's first frame (step 0) already meets a loss of at most 99.
        assert status["state"] == "met" and status["met_at_step"] == 0
        scoreboard = wait_for_state(teacher, lambda s: bool(s["results"]))
        assert scoreboard["results"][0]["name"] == "=Alice"
        assert scoreboard["results"][0]["step"] == status["met_at_step"]

    refused = client.get(f"/api/rooms/{code}/results.csv", headers={"X-Room-Secret": "x" * 32})
    assert refused.status_code == 403
    csv = client.get(f"/api/rooms/{code}/results.csv", headers={"X-Room-Secret": room["secret"]})
    header, row = csv.text.splitlines()[:2]
    assert header == "name,challenge,met_at_step,settings"
    # A leading "=" would be a spreadsheet formula: written as text.
    assert row.startswith(f"'=Alice,easy-xor,{status['met_at_step']},")
    assert '""dataset"":""xor""' in row


def test_reset_all_sends_every_run_to_step_0(client: TestClient) -> None:
    room = start_class(client)
    code = room["code"]
    alice = join(client, code, "Alice")
    with client.websocket_connect("/ws") as teacher, client.websocket_connect("/ws") as a:
        enter(teacher, type="room_teach", code=code, secret=room["secret"])
        enter(a, type="room_join", code=code, token=alice["token"])
        send(a, type="control", action="step")
        frame = receive_until(a, "frame")
        while frame["step"] < 1:
            frame = receive_until(a, "frame")
        send(teacher, type="room_reset")
        while frame["step"] != 0:
            frame = receive_until(a, "frame")
        assert frame["status"] == "idle"


def test_a_student_who_leaves_greys_out_and_comes_back(client: TestClient) -> None:
    room = start_class(client)
    code = room["code"]
    alice = join(client, code, "Alice")
    join_alice = {"type": "room_join", "code": code, "token": alice["token"]}

    def next_tile(ws: Any) -> dict[str, Any]:
        tiles = receive_until(ws, "class_tiles")["tiles"]
        assert [t["student"] for t in tiles] == [alice["student"]]
        return dict(tiles[0])

    with client.websocket_connect("/ws") as teacher:
        enter(teacher, type="room_teach", code=code, secret=room["secret"])
        with client.websocket_connect("/ws") as a:
            enter(a, **join_alice)
            assert next_tile(teacher)["connected"]
        tile = next_tile(teacher)
        while tile["connected"]:
            tile = next_tile(teacher)
        with client.websocket_connect("/ws") as a:
            enter(a, **join_alice)
            while not tile["connected"]:
                tile = next_tile(teacher)
        assert tile["name"] == "Alice"


def test_a_run_left_to_watch_a_spotlight_waits_for_its_student_instead_of_expiring(
    client: TestClient,
) -> None:
    room = start_class(client)
    code = room["code"]
    alice, bob = join(client, code, "Alice"), join(client, code, "Bob")
    registry = client.app.state.registry  # type: ignore[attr-defined]
    with (
        client.websocket_connect("/ws") as teacher,
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws") as b,
    ):
        enter(teacher, type="room_teach", code=code, secret=room["secret"])
        enter(a, type="room_join", code=code, token=alice["token"])
        send(b, type="hello")
        bobs_run = receive_until(b, "session")["session_id"]
        send(b, type="room_join", code=code, token=bob["token"])
        send(teacher, type="room_spotlight", student=alice["student"])
        wait_for_state(b, lambda s: s["spotlight"] == alice["student"])
        send(b, type="room_watch", student=alice["student"])
        wait_for_state(b, lambda s: s["watching"] == alice["student"])
        assert registry.sessions[bobs_run].detached_at is None
        # Hovering the plane reads the watched model: allowed, it changes nothing.
        send(b, type="inspect", x1=0.5, x2=-0.5)
        assert receive_until(b, "inspection")["type"] == "inspection"
        send(b, type="room_watch", student=None)
        assert wait_for_state(b, lambda s: s["watching"] is None)["watching"] is None
