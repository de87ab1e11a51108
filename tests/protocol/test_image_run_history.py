"""A digits run's runs list carries the earlier runs' curves (the page's overlay), and every run
of it downloads as CSV or JSON with the losses its page was sent."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from tests.protocol.test_image_socket import receive, step_frames


def test_a_branch_s_parent_is_overlaid_and_both_download_with_the_losses_the_page_saw(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/images") as ws:
        run_id = receive(ws, "image_session")["run_id"]
        receive(ws, "image_frame")
        seen = {f["step"]: f["train_losses"][0] for f in step_frames(ws, 5)}
        ws.send_json({"type": "image_rewind", "step": 2})
        receive(ws, "image_rewound")
        receive(ws, "image_frame")
        ws.send_json({"type": "image_control", "action": "step"})
        runs = receive(ws, "image_runs")["runs"]
        branched = receive(ws, "image_frame")
        assert branched["step"] == 3
        parent, branch = runs
        assert parent["curve_steps"] == [1, 2, 3, 4, 5]
        assert parent["curve_losses"] == [seen[s] for s in range(1, 6)]
        assert branch["current"] and branch["curve_steps"] == [] and branch["branch_step"] == 2

        text = client.get(f"/api/images/{run_id}/runs/{parent['id']}/history.csv")
        assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
        assert "attachment" in text.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(text.text)))
        assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
        assert [float(r["train_loss"]) for r in rows] == [seen[s] for s in range(1, 6)]

        answer = client.get(f"/api/images/{run_id}/runs/{branch['id']}/history.json")
        body = json.loads(answer.text)
        assert body["run"]["parent"] == parent["id"] and body["run"]["branch_step"] == 2
        records = body["records"]
        assert [r["step"] for r in records] == [1, 2, 3]
        assert [r["train_loss"] for r in records[:2]] == [seen[1], seen[2]]
        assert records[2]["train_loss"] == branched["train_losses"][0]

        missing = client.get(f"/api/images/{run_id}/runs/99/history.csv")
        assert missing.status_code == 404 and "run 99 is not kept" in missing.json()["detail"]
        unknown = client.get("/api/images/no-such-run/runs/0/history.csv")
        assert unknown.status_code == 404
