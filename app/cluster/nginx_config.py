"""nginx's configuration for the workers: the shipped site with its listen and upstream lines
replaced, inside a main config that keeps every file nginx writes in one private folder.

The site is deploy/nginx/backprop.conf itself (the file compose.scale.yaml mounts), so one
server on every core routes runs exactly as the scaled deployment does.
"""

from __future__ import annotations

import re
from pathlib import Path

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "backprop.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_UPSTREAM_LINE = re.compile(r"^(\s*)server \S+ (max_fails=.*;)$", re.MULTILINE)
_LISTEN_LINE = re.compile(r"^(\s*)listen \S+;$", re.MULTILINE)


def render_site(upstreams: list[str], listen: str, site: Path = SITE) -> str:
    """The site with these upstream addresses ("127.0.0.1:8001", "unix:/run/w1.sock") and this
    listen address, every other line as shipped."""
    text = site.read_text()
    lines = _UPSTREAM_LINE.findall(text)
    if not lines:
        raise ValueError(f"{site} has no upstream server lines")
    indent, options = lines[0]
    servers = "\n".join(f"{indent}server {address} {options}" for address in upstreams)
    text = _UPSTREAM_LINE.sub("", text, count=len(lines) - 1)
    text = _UPSTREAM_LINE.sub(lambda _: servers, text)
    text, count = _LISTEN_LINE.subn(lambda m: f"{m.group(1)}listen {listen};", text)
    if count != 1:
        raise ValueError(f"{site} should have exactly one listen line")
    return text


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main_config(site: str, folder: Path, error_log: str, access_log: str = "off") -> str:
    """`folder` holds the pid file and the temp paths (nginx may run as any user: no /var)."""
    temp = "\n".join(f"    {name}_temp_path {folder / name};" for name in TEMP_PATHS)
    return f"""daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {error_log} warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$arg_session|$upstream_addr|$status';
    access_log {access_log};
{temp}
{site}
}}
"""


def make_temp_paths(folder: Path) -> None:
    """Writable by nginx's workers, which run as another user than the master under root."""
    folder.chmod(0o755)
    for name in TEMP_PATHS:
        (folder / name).mkdir(mode=0o777, exist_ok=True)
        (folder / name).chmod(0o777)
