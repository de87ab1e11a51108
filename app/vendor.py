"""Front-end libraries served from installed Python packages: pinned, offline, no CDN."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter()

# The `plotly` wheel ships plotly.js (MIT) for its own notebooks; the 3-D loss surface uses it.
# 4.8 MB, so the page loads it only when the 3-D view is opened, and browsers may keep it.
PLOTLY_JS = ("plotly", "package_data/plotly.min.js")
CACHE_SECONDS = 86_400


@router.get("/vendor/plotly.min.js", include_in_schema=False)
async def plotly_js() -> FileResponse:
    package, path = PLOTLY_JS
    try:
        source = resources.files(package).joinpath(path)
    except ModuleNotFoundError as error:
        raise HTTPException(404, "plotly is not installed") from error
    if not source.is_file():
        raise HTTPException(404, "plotly.min.js is missing from the plotly package")
    return FileResponse(
        str(source),
        media_type="text/javascript",
        headers={"cache-control": f"public, max-age={CACHE_SECONDS}"},
    )
