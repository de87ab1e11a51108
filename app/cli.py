"""The `backprop-lab` command: `backprop-lab serve --host --port`, `backprop-lab --version`."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from app.settings import Settings, get_settings


def package_version() -> str:
    try:
        return version("backprop-lab")
    except PackageNotFoundError:
        return "unknown (not installed)"


def describe_settings_error(error: ValidationError) -> str:
    """Name each bad BACKPROP_* variable and why, the way an operator can fix it."""
    lines = ["invalid settings:"]
    for problem in error.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"])
        variable = f"BACKPROP_{field.upper()}"
        lines.append(f"  {variable}={os.environ.get(variable, '')!r}: {problem['msg']}")
    return "\n".join(lines)


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        sys.exit(describe_settings_error(error))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-lab", description="Watch PyTorch train a neural network in the browser."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the app (default)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = load_settings()  # fail before binding the port, naming the bad variable
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=getattr(args, "host", os.environ.get("HOST", "127.0.0.1")),
        port=getattr(args, "port", int(os.environ.get("PORT", "8000"))),
        ws_per_message_deflate=settings.ws_compression,
    )
