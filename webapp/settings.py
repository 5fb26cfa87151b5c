"""Every setting of the web app and its workers, read once from PGOLF_* environment variables or flags.

`pgolf serve` hands its settings to the worker it starts through the same variables, so a worker
started by hand on another machine needs only the same PGOLF_* values (database URL, queue, data dir).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PGOLF_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # folders holding record folders (records/<track>/<date>_<name>/); the first one listed wins a name clash
    records: list[Path] = [Path("records")]
    # folders holding training runs (<run_id>/train.log and config.json, as `pgolf train` writes them)
    runs: list[Path] = [Path("runs")]
    # folders holding `pgolf ablate` results folders (<name>/ablation.toml and results/*.json)
    ablations: list[Path] = [Path("ablations")]
    # uploads (content-addressed), the embedded queue and the default database live here
    data_dir: Path = Path("out/web")
    # SQLAlchemy URL; empty means SQLite at DATA_DIR/pgolf.sqlite
    db: str = ""
    # "sqlite": Huey's SQLite storage under DATA_DIR, one machine; "redis": REDIS_URL, any number of machines
    queue: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://localhost:6379/0"
    upload_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    # what an uploaded artifact's compressed frames may decompress to, measured by streaming before anything
    # is decompressed whole (a record-sized model is ~16 MB of tensors)
    upload_max_decompressed_bytes: int = Field(64 * 1024 * 1024, gt=0)
    # required on uploads when set (header `Authorization: Bearer TOKEN` or the form's token field)
    upload_token: str = ""
    # parameters an uploaded (or evaluated) model may declare, checked before its tensors are decoded; the
    # evaluator's default (crawler.ptz.DEFAULT_MAX_PARAMS), and jobs read it as PGOLF_MAX_PARAMS
    max_params: int = Field(1 << 25, ge=1)
    # the address space each evaluation process may map on CPU (RLIMIT_AS), 0 = unlimited; not applied on CUDA,
    # whose driver maps tens of GB of address space it never touches
    job_max_memory_bytes: int = Field(8 << 30, ge=0)
    # uploads one client (by address) may make per rolling hour; 0 = unlimited
    uploads_per_client_per_hour: int = Field(30, ge=0)
    # jobs waiting in the queue at once; an upload past it is refused (429) until some have run
    max_queued_jobs: int = Field(100, ge=1)
    # bytes of uploaded files the server keeps in all; an upload that would pass it is refused (507)
    storage_quota_bytes: int = Field(4 << 30, ge=1)
    # Host headers served (DNS rebinding): empty = the bound address, localhost, 127.0.0.1 and ::1
    allowed_hosts: list[str] = []
    # evaluations running at once across every worker; the rest wait in the queue
    max_concurrent_evals: int = Field(1, ge=1)
    # validation shards (and tokenizer.model, unless one is uploaded) every upload is evaluated on; unset, the
    # server refuses uploads: the paths in an uploaded artifact's config are never opened
    eval_data_dir: Path | None = None
    # validation targets scored per evaluation; None is the evaluator's default (65,536 on CPU, all on GPU)
    eval_max_tokens: int | None = Field(None, ge=0)
    eval_device: str = ""  # "" = cuda when available, else cpu
    # tokens of the seeded validation slice the worker runs the loop-wise analysis on after each evaluation; 0 = off
    loops_tokens: int = Field(4096, ge=0)
    # an evaluation still running after this long is stopped and reported failed (no config can hold the worker)
    job_timeout_seconds: float = Field(3600.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    # a running job without a heartbeat for this long belongs to a dead worker
    stale_after_seconds: float = Field(60.0, gt=0)
    # a job whose worker died is queued again this many times, then reported failed
    max_attempts: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _stale_after_outlasts_heartbeat(self) -> "Settings":
        if self.stale_after_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("stale_after_seconds must exceed two heartbeats")
        return self

    @property
    def database_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'pgolf.sqlite').resolve()}"

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS

    @property
    def served_hosts(self) -> set[str]:
        """Host names (without port) a request may name."""
        return {h.lower() for h in self.allowed_hosts} or {self.host.lower(), *LOCAL_HOSTS}

    def as_environment(self) -> dict[str, str]:
        """These settings as the PGOLF_* variables that rebuild them in another process."""
        env = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            env[f"PGOLF_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
        return env
