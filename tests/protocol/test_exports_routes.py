"""Export routes of a live session, and the lessons the page offers: each is a configuration
the server accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.protocol import SetRequest
from app.training.code_export import export_training_script
from app.training.config import LabConfig

from .helpers import receive_until

JS = Path(__file__).resolve().parents[2] / "static" / "js"


def start(ws: Any, config: dict[str, Any]) -> str:
    ws.send_text(json.dumps({"type": "hello", "config": config}))
    session_id = str(receive_until(ws, "session")["session_id"])
    receive_until(ws, "frame")
    return session_id


def test_the_script_and_notebook_follow_the_sessions_settings(client: TestClient) -> None:
    config = LabConfig.model_validate(
        {"data": {"dataset": "spiral"}, "training": {"optimizer": "adam", "learning_rate": 0.01}}
    )
    with client.websocket_connect("/ws") as ws:
        session_id = start(ws, config.model_dump())
        script = client.get(f"/api/sessions/{session_id}/code.py")
        notebook = client.get(f"/api/sessions/{session_id}/code.ipynb")
    assert script.status_code == 200
    assert script.text == export_training_script(config).source
    assert 'filename="backprop-lab-spiral-adam.py"' in script.headers["content-disposition"]
    assert notebook.status_code == 200
    assert json.loads(notebook.text)["nbformat"] == 4
    assert notebook.headers["content-disposition"].endswith('.ipynb"')


def test_an_unknown_session_has_nothing_to_export(client: TestClient) -> None:
    for suffix in ("code.py", "code.ipynb"):
        response = client.get(f"/api/sessions/no-such-session/{suffix}")
        assert response.status_code == 404
        assert "no such session" in response.text


def lesson_configs() -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the lessons table is JavaScript")
    program = (
        f"const m = await import({json.dumps(str(JS / 'lessons.js'))});"
        f"const s = await import({json.dumps(str(JS / 'store.js'))});"
        "const configs = m.LESSONS.map("
        "(l) => ({id: l.id, config: m.lessonConfig(l, s.DEFAULT_CONFIG)}));"
        "console.log(JSON.stringify(configs));"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lessons: list[dict[str, Any]] = json.loads(result.stdout)
    return lessons


def test_every_lesson_is_a_configuration_the_server_accepts() -> None:
    lessons = lesson_configs()
    assert len(lessons) >= 9
    for lesson in lessons:
        config = lesson["config"]
        LabConfig.model_validate(config)  # raises, naming the field, if a lesson is off limits
        SetRequest.model_validate({"type": "set", **config["training"], "skip_zero_grad": True})
