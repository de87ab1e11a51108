"""The `backprop-lab` command: `backprop-lab serve --host --port [--workers N|auto]`, and
`backprop-lab --version`."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from pydantic import ValidationError

from app.settings import Settings, get_settings, parse_workers


def package_version() -> str:
    try:
        return version("backprop-lab")
    except PackageNotFoundError:
        return "unknown (not installed)"


def describe_settings_error(error: ValidationError) -> str:
    """Name each bad BACKPROP_* variable and why, the way an operator can fix it."""
    lines = ["invalid settings:"]
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else "?"
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
    serve.add_argument(
        "--workers",
        help='server processes: a number, or "auto" for one per core (default: BACKPROP_WORKERS)',
    )
    # How the server on every core starts its workers: each on a socket only nginx reaches.
    serve.add_argument("--uds", help=argparse.SUPPRESS)
    return parser


def worker_count(wanted: int | Literal["auto"]) -> int:
    """ "auto": one per usable core, if nginx and Redis are there to join them (else one, said)."""
    if wanted != "auto":
        return int(wanted)
    from app.cluster.cores import usable_cores
    from app.cluster.supervisor import missing_engines

    cores = usable_cores()
    missing = missing_engines(need_redis=not os.environ.get("BACKPROP_STORE_URL"))
    if cores > 1 and missing:
        print(
            f"BACKPROP_WORKERS=auto: {cores} cores, but one process: several need "
            f"{' and '.join(missing)} (apt-get install {' '.join(missing)})",
            file=sys.stderr,
        )
        return 1
    return cores


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = load_settings()  # fail before binding the port, naming the bad variable
    host = getattr(args, "host", os.environ.get("HOST", "127.0.0.1"))
    port = getattr(args, "port", int(os.environ.get("PORT", "8000")))
    uds = getattr(args, "uds", None)
    wanted = settings.workers
    if getattr(args, "workers", None) is not None:
        try:
            wanted = parse_workers(args.workers)
        except ValueError as error:
            sys.exit(f"--workers {args.workers!r}: {error}")
    workers = 1 if uds else worker_count(wanted)
    if workers > 1:
        from app.cluster.supervisor import serve_on_every_core

        sys.exit(serve_on_every_core(host, port, workers, settings))
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        uds=uds,
        ws_per_message_deflate=settings.ws_compression,
    )
