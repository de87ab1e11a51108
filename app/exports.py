"""Take-home files of a live session: its training run as a Python script or a Jupyter notebook.

Both come from app.training.code_export for the session's current settings, so they replay the
run the page shows (same data, seeds, batches and loop). The session id is the key, as for the
model-file routes.
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Request, Response

from app.http_api import live_session
from app.training.code_export import export_training_script
from app.training.config import LabConfig

router = APIRouter(prefix="/api/sessions")

# In a notebook sys.argv holds the kernel's own arguments, so the cell sets the count itself.
STEPS_FROM_ARGV = re.compile(r"^steps = int\(sys\.argv\[1\]\) .*$", re.MULTILINE)
SECTION_MARK = "# ---- "
NOTEBOOK_STEPS = 1000


def _filename(config: LabConfig, suffix: str) -> str:
    return f"backprop-lab-{config.data.dataset}-{config.training.optimizer}.{suffix}"


def download_response(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


def notebook_from_script(source: str, steps: int = NOTEBOOK_STEPS) -> dict[str, object]:
    """A Jupyter notebook (nbformat 4): the script's docstring as text, one code cell per section
    (imports, data, model, loss and optimizer, the loop)."""
    docstring_end = source.index('"""', 3) + 3
    introduction = source[3 : docstring_end - 3].strip()
    code = STEPS_FROM_ARGV.sub(f"steps = {steps}", source[docstring_end:]).strip("\n")
    sections = [""]
    for line in code.splitlines():
        if line.startswith(SECTION_MARK):
            sections.append("")
        sections[-1] += line + "\n"
    cells: list[dict[str, object]] = [
        {"cell_type": "markdown", "metadata": {}, "source": introduction.splitlines(keepends=True)}
    ]
    for section in sections:
        text = section.strip("\n")
        if text:
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": text.splitlines(keepends=True),
                }
            )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "cells": cells,
    }


@router.get("/{session_id}/code.py")
async def download_script(request: Request, session_id: str) -> Response:
    """The standalone script: `python backprop-lab-….py 50` prints the first 50 steps' losses."""
    session = live_session(request, session_id)
    config = session.config
    source = export_training_script(config, edits=list(session.engine.surgery.edits)).source
    return download_response(source, "text/x-python; charset=utf-8", _filename(config, "py"))


@router.get("/{session_id}/code.ipynb")
async def download_notebook(request: Request, session_id: str) -> Response:
    """The same run as a notebook, one cell per part of the script."""
    session = live_session(request, session_id)
    config = session.config
    edits = list(session.engine.surgery.edits)
    notebook = notebook_from_script(export_training_script(config, edits=edits).source)
    return download_response(
        json.dumps(notebook, indent=1, ensure_ascii=False),
        "application/x-ipynb+json",
        _filename(config, "ipynb"),
    )
