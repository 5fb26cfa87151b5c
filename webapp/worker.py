"""A worker process: Huey's consumer running evaluation jobs, plus a watchdog for jobs of dead workers.

At start the worker queues again every job the database says is queued: a message lost with a
worker that died between taking it from the queue and claiming the job would otherwise strand it.
Extra messages are harmless, since only one claim per job can succeed.
"""
from __future__ import annotations

import logging
import threading

from huey.consumer import Consumer

from webapp import jobs
from webapp.db import init_db, make_engine
from webapp.queue import EvalQueue
from webapp.runner import JobRunner
from webapp.settings import Settings

log = logging.getLogger("pgolf.worker")


def _watch_stale(runner: JobRunner, stop: threading.Event) -> None:
    while not stop.wait(runner.settings.heartbeat_seconds):
        try:
            for job_id in jobs.recover_stale(runner.sessions, runner.settings):
                log.warning("job %s: its worker stopped responding; queued again", job_id)
                runner.queue.enqueue(job_id)
        except Exception:  # a locked or unreachable database: try again on the next beat
            log.exception("stale-job check failed")


def run_worker(settings: Settings, workers: int | None = None) -> None:
    """Blocks until interrupted (SIGINT/SIGTERM), as Huey's consumer does."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sessions = init_db(make_engine(settings), settings)
    runner = JobRunner(settings, sessions)
    runner.queue = queue = EvalQueue(settings, runner)
    for job_id in jobs.recover_stale(sessions, settings):
        log.warning("job %s: its worker stopped responding; queued again", job_id)
    for job_id in jobs.queued_ids(sessions):
        queue.enqueue(job_id)
    stop = threading.Event()
    watchdog = threading.Thread(target=_watch_stale, args=(runner, stop), daemon=True, name="stale-job-watch")
    watchdog.start()
    log.info("worker: %s queue, %d thread(s), at most %d evaluation(s) at once",
             settings.queue, workers or settings.max_concurrent_evals, settings.max_concurrent_evals)
    try:
        Consumer(queue.huey, workers=workers or settings.max_concurrent_evals, worker_type="thread",
                 periodic=False).run()
    finally:
        stop.set()
