"""`pgolf serve` (the web app, plus a worker unless told otherwise) and `pgolf worker` (evaluations only).

Every setting has a PGOLF_* environment variable (see webapp.settings); the flags here override them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from webapp.settings import Settings

WORKER_STOP_SECONDS = 30


def _settings(**flags) -> Settings:
    try:
        return Settings(**{name: value for name, value in flags.items() if value not in (None, [])})
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: setting {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}", err=True)
        raise typer.Exit(2) from None


def serve_command(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default 127.0.0.1, PGOLF_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default 8000, PGOLF_PORT).")] = None,
    records: Annotated[Optional[list[Path]], typer.Option(help="A folder of record folders; repeat for several (default: records/).")] = None,
    runs: Annotated[Optional[list[Path]], typer.Option(help="A folder of training runs for ablations; repeat for several (default: runs/).")] = None,
    ablations: Annotated[Optional[list[Path]], typer.Option(help="A folder of `pgolf ablate` results; repeat for several (default: ablations/).")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy database URL (default: SQLite in the data dir).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Uploads, results queue and default database (default: out/web).")] = None,
    worker: Annotated[bool, typer.Option(help="Start a worker process beside the web server; --no-worker when workers run elsewhere.")] = True,
) -> None:
    """Serve the web app: records, artifact evaluations and ablations."""
    # the web stack loads here, not at import: every other pgolf command would pay for it
    import uvicorn

    from webapp.app import create_app

    settings = _settings(host=host, port=port, records=records, runs=runs, ablations=ablations, db=db, data_dir=data_dir)
    if not settings.is_local and not settings.upload_token:
        typer.echo(f"warning: bound to {settings.host} with no upload token: anyone who reaches it can upload "
                   "(set PGOLF_UPLOAD_TOKEN)", err=True)
    app = create_app(settings)
    child = None
    if worker:
        child = subprocess.Popen([sys.executable, "-m", "pgolf", "worker"], env={**os.environ, **settings.as_environment()})
    try:
        uvicorn.run(app, host=settings.host, port=settings.port)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()


def worker_command(
    workers: Annotated[Optional[int], typer.Option(help="Worker threads (default: PGOLF_MAX_CONCURRENT_EVALS).")] = None,
    ablations: Annotated[Optional[list[Path]], typer.Option(help="A folder of `pgolf ablate` results; repeat for several (default: ablations/).")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy database URL (default: SQLite in the data dir).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Uploads, results queue and default database (default: out/web).")] = None,
) -> None:
    """Run queued artifact evaluations until stopped (Ctrl-C or SIGTERM)."""
    from webapp.worker import run_worker

    run_worker(_settings(db=db, data_dir=data_dir), workers)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
