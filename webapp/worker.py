"""A worker process: Huey's consumer running evaluation jobs, plus a watchdog for jobs of dead workers.

At start the worker queues again every job the database says is queued: a message lost with a
worker that died between taking it from the queue and claiming the job would otherwise strand it.
Extra messages are harmless, since only one claim per job can succeed.

A worker started by `pgolf serve` is told its parent's pid and stops (as on SIGTERM) once that
process is gone, so a server killed with -9 leaves no worker running on its own.
"""
from __future__ import annotations

import logging
import os
import signal
import threading

from huey.consumer import Consumer

from webapp import jobs
from webapp.db import init_db, make_engine
from webapp.job_runner import JobRunner
from webapp.queue import EvalQueue
from webapp.settings import Settings

log = logging.getLogger("pgolf.worker")
PARENT_CHECK_SECONDS = 1.0
# Huey waits this long on SIGINT for running tasks; ours run their evaluation in a child process for up to
# an hour, so rather than wait, the worker stops it and gives the job back to the queue (stop_children)
GRACEFUL_STOP_SECONDS = 1.0


def _watch_stale(runner: JobRunner, stop: threading.Event) -> None:
    while not stop.wait(runner.settings.heartbeat_seconds):
        try:
            for job_id in jobs.recover_stale(runner.sessions, runner.settings):
                log.warning("job %s: its worker stopped responding; queued again", job_id)
                runner.queue.enqueue(job_id)
        except Exception:  # a locked or unreachable database: try again on the next beat
            log.exception("stale-job check failed")


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    # a dead parent's children are handed to init (or a subreaper), so the parent pid changes
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent_pid:
            log.warning("worker: parent process %d is gone; stopping", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)  # Huey's own stop: the consumer loop exits
            return


def run_worker(settings: Settings, workers: int | None = None, parent_pid: int | None = None) -> None:
    """Blocks until interrupted (SIGINT/SIGTERM), as Huey's consumer does, or until parent_pid is gone."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    if parent_pid is not None:
        if os.getppid() != parent_pid:  # the parent died while this process was starting
            log.warning("worker: parent process %d is gone; not starting", parent_pid)
            return
        threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True, name="parent-watch").start()
    sessions = init_db(make_engine(settings), settings)
    runner = JobRunner(settings, sessions)
    runner.queue = queue = EvalQueue(settings, runner)
    for job_id in jobs.recover_stale(sessions, settings):
        log.warning("job %s: its worker stopped responding; queued again", job_id)
    for job_id in jobs.queued_ids(sessions):
        queue.enqueue(job_id)
    watchdog = threading.Thread(target=_watch_stale, args=(runner, stop), daemon=True, name="stale-job-watch")
    watchdog.start()
    log.info("worker: %s queue, %d thread(s), at most %d evaluation(s) at once, %.0f s per job at most",
             settings.queue, workers or settings.max_concurrent_evals, settings.max_concurrent_evals,
             settings.job_timeout_seconds)
    try:
        Consumer(queue.huey, workers=workers or settings.max_concurrent_evals, worker_type="thread",
                 periodic=False, shutdown_timeout=GRACEFUL_STOP_SECONDS).run()
    finally:
        stop.set()
        runner.stop_children()
