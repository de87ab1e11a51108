# Backprop Lab: the FastAPI app serving the page and training on CPU with PyTorch, on every core.
#   docker build -t backprop-lab .
#   docker run --rm -p 8000:8000 backprop-lab      # then open http://localhost:8000
# The container runs a supervisor (BACKPROP_WORKERS=auto): its own Redis, one app worker per
# usable core (its CPU affinity, capped by `--cpus`) and nginx on :8000 routing each run to one
# worker. `docker run -e BACKPROP_WORKERS=1 ...` serves from a single process, its runs in SQLite.
# tests/docker/test_dockerfile.py lints this file and replays both stages (ARG/ENV/WORKDIR/COPY/
# RUN, then CMD and HEALTHCHECK) without a Docker engine: keep RUN lines to `pip`/`python`
# commands, and name image paths in them through ENV variables (the replay maps those into its
# temporary root), not literally. The one exception is the apt-get line of the runtime stage, in
# exactly its form below: not run, but checked against this machine's installed packages.

# ---- build: a virtualenv at /opt/venv with CPU torch, the dependencies and the project --------
# Debian 12 named in the tag (plain `3.11-slim` follows Debian's newest release): the runtime
# stage's apt-get packages then come from one release, as in the replay's check of them.
FROM python:3.11-slim-bookworm AS build

# PyPI's Linux torch is a ~5 GB CUDA build; the CPU wheel comes from PyTorch's own index.
# Override it for a mirror: --build-arg TORCH_INDEX_URL=https://mirror.example/whl/cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv
# Separate ENV: a variable set in an ENV line is not visible to the rest of that line.
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"

RUN python -m venv "${VIRTUAL_ENV}"

# Its own layer, first: the biggest download, and it only changes with the pin below.
# The project's `torch==2.13.0` requirement is then satisfied by 2.13.0+cpu (PEP 440 local
# versions), so the install below never pulls the CUDA build.
RUN pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" "torch==2.13.0+cpu"

# app/main.py finds static/ and templates/ next to the app/ package (its parent directory), so
# the project is installed in editable mode from /app: the venv only records "/app" (a .pth
# file), and the runtime stage puts the one copy of the code at that same path.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app/ app/
RUN pip install --no-cache-dir --editable . \
    && python -c "import app.main"

# ---- runtime: the same base image, the venv and the source; no pip cache, no build files ----
FROM python:3.11-slim-bookworm AS runtime

# nginx and Redis, for a server on every core (app/cluster/): both run as the server's user,
# their pid, temp and data files in its own folders (nothing under /var/lib, /var/log or /run).
# Unpinned: point releases replace versions within bookworm (pins break); the tag pins bookworm.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light redis-server \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    HOST=0.0.0.0 \
    PORT=8000 \
    MALLOC_ARENA_MAX=2 \
    BACKPROP_WORKERS=auto
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"

# A venv only works at the path it was built at (its scripts and .pth name it): same path here,
# and the same base image, whose /usr/local/bin/python the venv links to.
COPY --from=build /opt/venv /opt/venv

# Files stay root-owned: read-only for the user the server runs as.
WORKDIR /app
COPY app/ app/
COPY templates/ templates/
COPY static/ static/
# The nginx site the supervisor renders (app/cluster/nginx_config.py reads it next to app/).
COPY deploy/nginx/ deploy/nginx/

# Runs outlive the container here (compose.yaml mounts a volume on it): the supervisor's Redis
# keeps them in redis/ (append-only file), BACKPROP_WORKERS=1 in a SQLite file. The one folder
# the server writes to, owned by its user. BACKPROP_STORE_URL=redis://… uses an external Redis.
ENV BACKPROP_DATA_DIR=/data
RUN python -c "import os; d = os.environ['BACKPROP_DATA_DIR']; os.makedirs(d, exist_ok=True); os.chown(d, 10001, 10001)"

# Numeric, so Kubernetes' runAsNonRoot can verify it; no home needed.
USER 10001:10001
EXPOSE 8000
# /healthz on $PORT: through nginx, from one of the workers (or from the one process).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]
# The supervisor (BACKPROP_WORKERS=auto above): Redis, one worker per core, then nginx on
# $HOST:$PORT; SIGTERM stops the workers (each tells its pages and saves its runs), nginx, then
# Redis. BACKPROP_WORKERS=1: this process serves alone, its runs in SQLite under /data.
CMD ["python", "-m", "app"]
