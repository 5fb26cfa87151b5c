"""`pgolf serve` (the web app, plus a worker unless told otherwise) and `pgolf worker` (evaluations only).

Every setting has a PGOLF_* environment variable (see webapp.settings); the flags here override them.

`pgolf serve` owns its worker: SIGTERM and SIGINT alike stop the server, then the worker (which gives
its running job back to the queue); a worker that dies is reaped and replaced; and the worker is told
the server's pid, so that it stops by itself if the server is killed outright.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from webapp.settings import Settings

log = logging.getLogger("pgolf.serve")
WORKER_STOP_SECONDS = 30
# a worker that dies within this long of its start counts as crashing: wait longer before each new one
WORKER_HEALTHY_SECONDS = 60
WORKER_RESTART_DELAYS = (1, 2, 5, 10, 30)
# Ctrl-C or a service manager signals the whole process group: the worker may end a moment before serve calls stop()
STOP_GRACE_SECONDS = 2.0


def _settings(**flags) -> Settings:
    try:
        settings = Settings(**{name: value for name, value in flags.items() if value not in (None, [])})
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: setting {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    _check_database_url(settings.db)
    return settings


def _check_database_url(url: str) -> None:
    # here, not at the first query: a bad URL is one line at start, not a traceback from a thread
    if not url:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, ImportError) as exc:
        typer.echo(f"error: setting db: not a database URL this server can open ({str(exc).splitlines()[0][:120]})",
                   err=True)
        raise typer.Exit(2) from None


class WorkerSupervisor:
    """`pgolf worker` as a child of the server: started, reaped and restarted when it dies, stopped with it."""

    def __init__(self, environment: dict[str, str]):
        self.environment = environment
        self.child: subprocess.Popen | None = None
        self.starts = 0
        self._lock = threading.Lock()  # no new child once stop() has begun
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True, name="worker-supervisor")

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self.child = subprocess.Popen([sys.executable, "-m", "pgolf", "worker", "--parent-pid", str(os.getpid())],
                                          env=self.environment)
            self.starts += 1
            return self.child

    def _supervise(self) -> None:
        crashes = 0
        while (child := self._spawn()) is not None:
            started = time.monotonic()
            code = child.wait()  # reaps it: a dead worker never lingers as a zombie
            # a worker stops cleanly (0) on SIGTERM, or dies of the signal if it came before its handler was set
            stopped_with_us = code in (0, -signal.SIGTERM, -signal.SIGINT) and self._stopping.wait(STOP_GRACE_SECONDS)
            if stopped_with_us or self._stopping.is_set():
                return
            crashes = 0 if time.monotonic() - started > WORKER_HEALTHY_SECONDS else crashes + 1
            delay = WORKER_RESTART_DELAYS[min(crashes, len(WORKER_RESTART_DELAYS) - 1)]
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            log.warning("worker %d %s; starting a new one in %d s", child.pid, how, delay)
            self._stopping.wait(delay)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            child = self.child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self._thread.ident is not None:  # start() may never have run: the app failed to build
            self._thread.join()


def _stop_on_signal(signum: int, _frame) -> None:
    # uvicorn handles SIGINT/SIGTERM while it serves, then raises the signal again under this handler:
    # exiting through SystemExit (not the default handler's instant death) lets serve stop its worker
    raise SystemExit(0)


def serve_command(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default 127.0.0.1, PGOLF_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default 8000, PGOLF_PORT).")] = None,
    records: Annotated[Optional[list[Path]], typer.Option(help="A folder of record folders; repeat for several (default: records/).")] = None,
    runs: Annotated[Optional[list[Path]], typer.Option(help="A folder of training runs for ablations; repeat for several (default: runs/).")] = None,
    ablations: Annotated[Optional[list[Path]], typer.Option(help="A folder of `pgolf ablate` results; repeat for several (default: ablations/).")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy database URL (default: SQLite in the data dir).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Uploads, results queue and default database (default: out/web).")] = None,
    eval_data: Annotated[Optional[Path], typer.Option(help="Validation shards (and tokenizer.model) that uploads are evaluated on (PGOLF_EVAL_DATA_DIR); without it uploads are refused.")] = None,
    worker: Annotated[bool, typer.Option(help="Start a worker process beside the web server; --no-worker when workers run elsewhere.")] = True,
    public_no_token: Annotated[bool, typer.Option(
        "--public-no-token", help="Serve beyond localhost with no upload token (refused without this flag).")] = False,
) -> None:
    """Serve the web app: records, artifact evaluations and ablations.

    Every setting is also an environment variable (the flags above win); these have no flag. Uploads:
    PGOLF_UPLOAD_TOKEN (required on uploads when set; set it when binding beyond localhost),
    PGOLF_UPLOAD_MAX_BYTES (default 64 MiB), PGOLF_UPLOAD_MAX_DECOMPRESSED_BYTES (default 64 MiB).
    Evaluations: PGOLF_EVAL_MAX_TOKENS (validation targets scored; default 65,536 on CPU, all on GPU),
    PGOLF_EVAL_DEVICE (default cuda when available, else cpu), PGOLF_LOOPS_TOKENS (the loop-wise analysis'
    slice, 0 = off; default 4096), PGOLF_MAX_CONCURRENT_EVALS (default 1), PGOLF_JOB_TIMEOUT_SECONDS
    (default 3600). Queue: PGOLF_QUEUE (sqlite or redis) and PGOLF_REDIS_URL. Dead workers:
    PGOLF_HEARTBEAT_SECONDS, PGOLF_STALE_AFTER_SECONDS, PGOLF_MAX_ATTEMPTS. Limits: PGOLF_MAX_PARAMS (a model's
    parameters, default 2^25), PGOLF_JOB_MAX_MEMORY_BYTES (a CPU job's address space, default 8 GiB),
    PGOLF_UPLOADS_PER_CLIENT_PER_HOUR (default 30), PGOLF_MAX_QUEUED_JOBS (default 100),
    PGOLF_STORAGE_QUOTA_BYTES (default 4 GiB), PGOLF_ALLOWED_HOSTS (Host names served, a JSON list; default
    the bound address and localhost). The worker gets the same settings; one started by hand elsewhere needs
    the same PGOLF_* values.
    """
    # the web stack loads here, not at import: every other pgolf command would pay for it
    import uvicorn

    from webapp.app import create_app

    settings = _settings(host=host, port=port, records=records, runs=runs, ablations=ablations, db=db,
                         data_dir=data_dir, eval_data_dir=eval_data)
    if not settings.is_local and not settings.upload_token:
        if not public_no_token:
            typer.echo(f"error: --host {settings.host} reaches beyond this machine: set PGOLF_UPLOAD_TOKEN, or pass "
                       "--public-no-token to let anyone who reaches it upload", err=True)
            raise typer.Exit(2)
        typer.echo(f"warning: bound to {settings.host} with no upload token: anyone who reaches it can upload",
                   err=True)
    if not settings.is_local and not settings.allowed_hosts:
        typer.echo(f"warning: only requests naming {', '.join(sorted(settings.served_hosts))} as their Host are "
                   "served; set PGOLF_ALLOWED_HOSTS to the names clients use", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    supervisor = WorkerSupervisor({**os.environ, **settings.as_environment()}) if worker else None
    try:
        app = create_app(settings)
        if supervisor is not None:
            supervisor.start()
        uvicorn.run(app, host=settings.host, port=settings.port)
    finally:
        # a second Ctrl-C must not cut the worker's shutdown short and leave it running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if supervisor is not None:
            supervisor.stop()


def worker_command(
    workers: Annotated[Optional[int], typer.Option(help="Worker threads (default: PGOLF_MAX_CONCURRENT_EVALS).")] = None,
    ablations: Annotated[Optional[list[Path]], typer.Option(help="A folder of `pgolf ablate` results; repeat for several (default: ablations/).")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy database URL (default: SQLite in the data dir).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Uploads, results queue and default database (default: out/web).")] = None,
    parent_pid: Annotated[Optional[int], typer.Option(hidden=True, help="Stop once this process (the server that started this worker) is gone.")] = None,
) -> None:
    """Run queued artifact evaluations until stopped (Ctrl-C or SIGTERM)."""
    from webapp.worker import run_worker

    if workers is not None and workers < 1:
        typer.echo(f"error: --workers must be at least 1, got {workers}", err=True)
        raise typer.Exit(2)
    run_worker(_settings(db=db, data_dir=data_dir), workers, parent_pid)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
