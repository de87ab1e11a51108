"""The uPlot copy the app serves is the pinned npm package's own files, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "static" / "vendor" / "uplot"
PACKAGE = ROOT / "node_modules" / "uplot"
# Vendored file → its path inside the npm package.
FILES = {
    "uPlot.esm.js": "dist/uPlot.esm.js",
    "uPlot.min.css": "dist/uPlot.min.css",
    "LICENSE": "LICENSE",
}


def pinned_version() -> str:
    manifest = json.loads((ROOT / "package.json").read_text())
    return str(manifest["dependencies"]["uplot"])


def test_the_vendored_copy_names_the_pinned_version() -> None:
    version = pinned_version()
    assert version[0].isdigit(), f"uplot must be pinned to an exact version, not {version!r}"
    assert f"(v{version})" in (VENDORED / "uPlot.esm.js").read_text()[:400]


@pytest.mark.parametrize("name", FILES)
def test_the_vendored_file_equals_the_npm_package(name: str) -> None:
    installed = PACKAGE / FILES[name]
    if not installed.is_file():
        pytest.skip("node_modules/uplot is not installed (npm ci installs it)")
    assert json.loads((PACKAGE / "package.json").read_text())["version"] == pinned_version()
    assert (VENDORED / name).read_bytes() == installed.read_bytes()
