"""Take-home files of the digits lab: its run as a Python script or a Jupyter notebook.

An image run is a pure function of its settings (data, model and batch seeds included), so the
files are built from the settings the page sends, not from a live session: the link works after
a reconnect or a restart, and a shared `#config=` link downloads the same script.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import ValidationError

from app.exports import download_response, notebook_from_script
from app.training.images.code_export import export_image_script
from app.training.images.config import ImageLabConfig

router = APIRouter(prefix="/api/images")

# A config is ~700 characters of JSON; anything far longer is not one.
MAX_CONFIG_CHARS = 8192
ConfigQuery = Annotated[str, Query(max_length=MAX_CONFIG_CHARS, description="ImageLabConfig JSON")]


def _config(text: str) -> ImageLabConfig:
    try:
        return ImageLabConfig.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'config'}: {e['msg']}"
            for e in error.errors()[:3]
        )
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from error


def _filename(config: ImageLabConfig, suffix: str) -> str:
    kind = "cnn" if config.model.conv_blocks else "mlp"
    return f"backprop-lab-digits-{kind}-{config.training.optimizer}.{suffix}"


@router.get("/code.py")
async def download_image_script(config: ConfigQuery) -> Response:
    """The standalone script: `python backprop-lab-digits-….py 50` prints 50 steps' losses,
    then the test loss and accuracy in eval mode."""
    settings = _config(config)
    source = export_image_script(settings).source
    return download_response(source, "text/x-python; charset=utf-8", _filename(settings, "py"))


@router.get("/code.ipynb")
async def download_image_notebook(config: ConfigQuery) -> Response:
    """The same run as a notebook, one cell per part of the script."""
    settings = _config(config)
    notebook = notebook_from_script(export_image_script(settings).source)
    return download_response(
        json.dumps(notebook, indent=1, ensure_ascii=False),
        "application/x-ipynb+json",
        _filename(settings, "ipynb"),
    )
