"""Export routes of a live session, and the lessons the page offers: each is a configuration
the server accepts."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from app.protocol import SetRequest
from app.training.code_export import export_training_script
from app.training.config import LabConfig
from tests.support.lessons import lessons as lesson_table

from .helpers import receive_until


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


def test_every_lesson_is_a_configuration_the_server_accepts() -> None:
    lessons = lesson_table()
    assert len(lessons) >= 9
    for lesson in lessons:
        config = lesson["config"]
        LabConfig.model_validate(config)  # raises, naming the field, if a lesson is off limits
        SetRequest.model_validate({"type": "set", **config["training"], "skip_zero_grad": True})


def test_the_digits_lab_s_script_and_notebook_follow_the_settings_sent(
    client: TestClient,
) -> None:
    from app.training.images.code_export import export_image_script
    from app.training.images.config import ImageLabConfig

    config = ImageLabConfig.model_validate(
        {"model": {"conv_blocks": [], "hidden_layers": [24]}, "training": {"optimizer": "sgd"}}
    )
    query = {"config": config.model_dump_json()}
    script = client.get("/api/images/code.py", params=query)
    notebook = client.get("/api/images/code.ipynb", params=query)
    assert script.status_code == 200
    assert script.text == export_image_script(config).source
    assert 'filename="backprop-lab-digits-mlp-sgd.py"' in script.headers["content-disposition"]
    cells = json.loads(notebook.text)["cells"]
    code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "DenseBlock(64, 24" in code and "sys.argv[1]" not in code


def test_settings_that_are_not_a_digits_config_get_a_clear_422(client: TestClient) -> None:
    bad = {"model": {"conv_blocks": [{"channels": 99}]}}
    answer = client.get("/api/images/code.py", params={"config": json.dumps(bad)})
    assert answer.status_code == 422
    assert "channels" in answer.json()["detail"]
    assert client.get("/api/images/code.ipynb", params={"config": "not json"}).status_code == 422
    assert client.get("/api/images/code.py").status_code == 422  # no settings at all
