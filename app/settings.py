"""Server settings and hard limits, read once from environment variables (prefix BACKPROP_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import limits


class PublicLimits(BaseModel):
    """The limits the page needs to bound its controls by the numbers the server enforces."""

    max_hidden_layers: int = limits.MAX_HIDDEN_LAYERS
    min_hidden_layers: int = limits.MIN_HIDDEN_LAYERS
    max_neurons_per_layer: int = limits.MAX_NEURONS_PER_LAYER
    max_points: int = limits.MAX_POINTS
    min_learning_rate: float = limits.MIN_LEARNING_RATE
    max_learning_rate: float = limits.MAX_LEARNING_RATE
    max_batch_size: int = limits.MAX_POINTS
    min_surface_resolution: int = limits.MIN_SURFACE_RESOLUTION
    max_surface_resolution: int = limits.MAX_SURFACE_RESOLUTION
    max_surface_span: float = limits.MAX_SURFACE_SPAN
    max_penalty: float = limits.MAX_PENALTY
    max_grad_clip_norm: float = limits.MAX_GRAD_CLIP_NORM
    max_schedule_steps: int = limits.MAX_SCHEDULE_STEPS
    max_steps_per_frame: int = limits.MAX_STEPS_PER_FRAME
    max_run_steps: int = limits.MAX_RUN_STEPS
    max_messages_per_second: float
    max_message_bytes: int


MAX_WORKERS = 64


def parse_workers(value: object) -> int | Literal["auto"]:
    """BACKPROP_WORKERS or --workers: "auto", or a number of processes from 1 to MAX_WORKERS."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit() and 1 <= int(text) <= MAX_WORKERS:
        return int(text)
    raise ValueError(f"a number from 1 to {MAX_WORKERS}, or auto")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKPROP_", extra="ignore")

    # Sessions live on after a disconnect so a reload resumes the same run.
    session_ttl_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # A class of 100 learners, with room for a few reloads and the teacher's own tabs.
    max_sessions: int = Field(default=120, ge=1, le=1000)
    # Server processes: 1 is one process (today's server); N or "auto" (one per usable core)
    # runs N of them behind nginx with their runs in Redis (app/cluster/), each admitting
    # max_sessions. Python's interpreter lock holds one process to about one core.
    workers: int | Literal["auto"] = 1
    # Training threads, torch at one thread each. One: a small model's step is mostly Python,
    # and threads share one interpreter lock (see app/realtime/scheduler.py).
    worker_threads: int = Field(default=1, ge=1, le=64)
    # Playing runs of one shape train as one stacked computation (app/realtime/groups.py);
    # off, every run steps alone (for comparison, or if grouping is ever suspected).
    training_groups: bool = True
    # permessage-deflate on the websocket: frames 2.4× smaller (15 kB → 6 kB at the defaults),
    # but at 100 learners on 2 cores it cut everyone's frames/s by ~40% (bench/bench_class.py,
    # 2026-12-07: 3.8 → 6.2 without it), and not by its CPU: the event loop releases the
    # interpreter lock around each compression and the training thread pays for the hand-offs.
    # On for links slower than ~2 Mbit/s per learner.
    ws_compression: bool = False
    # A burst is the training done between two frames; ~30 frames/s keeps the page fluid.
    frame_interval_seconds: float = Field(default=1 / 30, gt=0.001, le=1.0)
    boundary_resolution: int = Field(default=64, ge=8, le=limits.MAX_BOUNDARY_RESOLUTION)
    neuron_map_resolution: int = Field(default=24, ge=4, le=64)
    max_message_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_messages_per_second: float = Field(default=60.0, gt=0, le=10_000)
    # A run's rewindable history (snapshots of parameters and optimizer state) per session:
    # at most this many bytes; the newest `history_recent_snapshots` bursts are all kept and
    # older ones thinned (history.py).
    history_max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    history_recent_snapshots: int = Field(default=200, ge=2, le=10_000)
    # Extra origins allowed to open the websocket, besides the page's own.
    allowed_origins: list[str] = Field(default_factory=list)

    # ---- where runs outlive the process (app/store) -------------------------------------------
    # Unset: SQLite under data_dir (one server). redis://[:password@]host:port/db (rediss:// for
    # TLS) for several replicas sharing their runs.
    store_url: str | None = None
    data_dir: Path = Path("data")
    # A run untouched this long is gone from the store (a week: from one lesson to the next).
    store_ttl_seconds: float = Field(default=604_800.0, gt=0, le=366 * 86_400)
    # A changed run is written at most this often: the progress a SIGKILL can cost.
    store_write_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # And at most this many writes a second in all (the oldest first): encoding holds the GIL,
    # so with N changing runs each is written every max(interval, N / this) seconds.
    store_max_writes_per_second: float = Field(default=10.0, gt=0, le=10_000)
    # Larger records are thinned (rewind states) or refused (app/store/records.py).
    max_record_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024)
    # New runs per client address: a burst of this many, then one every refill interval. A
    # class of 100 behind one school NAT opening the page at once fits in the burst; a page
    # that comes back with its id resumes and is not counted.
    new_sessions_per_address: int = Field(default=150, ge=1, le=100_000)
    new_session_refill_seconds: float = Field(default=1.0, gt=0, le=3600)

    @field_validator("workers", mode="before")
    @classmethod
    def _worker_count(cls, value: object) -> int | Literal["auto"]:
        return parse_workers(value)

    def public_limits(self) -> PublicLimits:
        return PublicLimits(
            max_messages_per_second=self.max_messages_per_second,
            max_message_bytes=self.max_message_bytes,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
