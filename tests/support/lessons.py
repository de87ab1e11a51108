"""The lessons table as the page has it: static/js/lessons.js, read through node (the table is
JavaScript; nothing is copied by hand)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).resolve().parents[2] / "static" / "js"


def lessons() -> list[dict[str, Any]]:
    """Every lesson: id, its whole config over the page's defaults, `steps`, and its card's
    promise (`outcome`, as the card shows it)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the lessons table is JavaScript")
    program = (
        f"const m = await import({json.dumps(str(JS / 'lessons.js'))});"
        f"const s = await import({json.dumps(str(JS / 'store.js'))});"
        "const table = m.LESSONS.map((l) => ({id: l.id, steps: l.steps ?? null,"
        " view: l.view ?? {}, card: m.lessonOutcome(l), tryThis: l.tryThis,"
        " config: m.lessonConfig(l, s.DEFAULT_CONFIG)}));"
        "console.log(JSON.stringify(table));"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    table: list[dict[str, Any]] = json.loads(result.stdout)
    return table
