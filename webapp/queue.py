"""The task queue: Huey with SQLite storage under the data dir (one machine) or Redis (many machines).

The web process and every worker build the same queue from the same settings; a message carries
only a job id, and what to run is read from the database when it arrives.
"""
from __future__ import annotations

from typing import Callable

from huey import Huey, RedisHuey, SqliteHuey

from webapp.settings import Settings

QUEUE_NAME = "pgolf"
TASK_NAME = "pgolf.evaluate"


def make_huey(settings: Settings) -> Huey:
    if settings.queue == "redis":
        return RedisHuey(QUEUE_NAME, url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(settings.data_dir / "queue.sqlite"), results=False)


class EvalQueue:
    def __init__(self, settings: Settings, run_job: Callable[[int], None] | None = None):
        """run_job is the worker's task body; the web process, which only enqueues, passes none."""
        self.huey = make_huey(settings)
        body = run_job or _runs_in_workers_only

        def evaluate(job_id: int) -> None:
            body(job_id)

        self._task = self.huey.task(name=TASK_NAME)(evaluate)

    def enqueue(self, job_id: int, delay: float | None = None) -> None:
        if delay:
            self._task.schedule(args=(job_id,), delay=delay)
        else:
            self._task(job_id)


def _runs_in_workers_only(job_id: int) -> None:
    raise RuntimeError(f"job {job_id}: evaluations run in `pgolf worker`, not in the web process")
