"""The worker's task body: run one evaluation job in a child process (webapp.job_child), with a heartbeat
thread reporting liveness and progress, and a time limit.

The evaluation runs in its own process so that it can be stopped: when it passes
job_timeout_seconds (a hostile config can keep a model at "loading 0/0" for ever while this worker's
heartbeat still says it is alive), or when the job was declared dead and handed to another worker.
"""
from __future__ import annotations

import base64
import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy
from sqlalchemy.orm import sessionmaker

from crawler.contract import MetricKind
from evaluator.service import (LOADING_STAGE, LOOPS_PASSES, LOOPS_STAGE, DoneMessage, EvaluationRequest, JobResult,
                               PgolfError, PlanMessage, ProgressMessage, decode_message, one_line)
from webapp import jobs
from webapp.blobs import BlobStore
from webapp.queue import EvalQueue
from webapp.settings import Settings
from webapp.tables import Evaluation, JobState, StoredFile

# how long a job waits before asking again for a slot when all are busy
SLOT_RETRY_SECONDS = 2.0
# how often the job's thread wakes to check the time limit and the heartbeat's verdict while the child is silent
POLL_SECONDS = 0.2
# finished jobs looked through for the latest measured cost of the loop-wise analysis
LOOPS_HISTORY = 20


class NoEvalData(PgolfError):
    """The server has no validation data of its own; an upload never names one."""


NO_EVAL_DATA = ("this server has no evaluation data (PGOLF_EVAL_DATA_DIR is not set); uploads are evaluated "
                "only on the server's own validation data, never on paths named in an upload")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


@dataclass
class _Outcome:
    """What the child reported: its result and loop plots (PNG bytes by name), or the one-line error."""
    result: JobResult | None = None
    plots: dict[str, bytes] = field(default_factory=dict)
    error: str = ""


def _measured_loops_passes(plan: list[list], finished: float, loops_tokens: int) -> float | None:
    """The loop-wise analysis' time over the sliding-window pass's time per token fed, per token of the analysis'
    slice: its cost in passes, which the next job's plan weighs it at. None without both stages' starts."""
    starts = {name: (weight, started) for name, weight, started in plan}
    if not loops_tokens or LOOPS_STAGE not in starts or MetricKind.SLIDING_WINDOW not in starts:
        return None
    (_, loops_began), (sliding_weight, sliding_began) = starts[LOOPS_STAGE], starts[MetricKind.SLIDING_WINDOW]
    if not (loops_began and sliding_began and loops_began > sliding_began):
        return None
    seconds_per_token = (loops_began - sliding_began) / sliding_weight
    return (finished - loops_began) / seconds_per_token / loops_tokens


class _Progress:
    """The latest progress, written by the job's thread and read by the heartbeat thread."""

    def __init__(self):
        self.stage, self.scored, self.to_score = LOADING_STAGE, 0, 0
        self.plan: list[list] = []  # [stage, weight, started (Unix time) or None], as stored for the page
        self.last_report: float | None = None  # Unix time of the latest progress message
        self.loops_tokens = 0  # the loop-wise analysis' slice, 0 when it does not run
        self.abandoned = threading.Event()


class JobRunner:
    def __init__(self, settings: Settings, sessions: sessionmaker):
        self.settings = settings
        self.sessions = sessions
        self.store = BlobStore(settings.data_dir)
        self.queue: EvalQueue | None = None  # set once the queue that calls this runner exists
        self._children: dict[int, tuple[str, subprocess.Popen]] = {}  # job id -> (worker name, its process)
        self._children_lock = threading.Lock()
        self._stopping = threading.Event()

    def __call__(self, message: int) -> None:
        # A message is a turn to run, not an order: each one runs the job that has waited longest, so that a job
        # handed back by a stopping worker (queued again, with a new message at the back of the queue) keeps its
        # place. Every job that becomes queued sends a message, so no queued job is left without one.
        worker = worker_name()
        while True:
            job_id = jobs.oldest_queued(self.sessions)
            if job_id is None:
                return
            claimed = jobs.claim(self.sessions, job_id, worker, self.settings.max_concurrent_evals)
            if claimed == jobs.ClaimOutcome.NO_SLOT:
                self.queue.enqueue(message, delay=SLOT_RETRY_SECONDS)
                return
            if claimed == jobs.ClaimOutcome.TAKEN:
                break
        progress = _Progress()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job_id, worker, progress, stop), daemon=True,
                                name=f"heartbeat-{job_id}")
        beat.start()
        try:
            request = self._request(job_id)
            outcome = self._run_child(job_id, worker, request, progress)
        except Exception as exc:  # e.g. no server data, or a stored file whose bytes no longer match its hash
            if not isinstance(exc, PgolfError):
                traceback.print_exc()
            outcome = _Outcome(error=one_line(exc))
        finally:
            stop.set()
            beat.join()
        if outcome is None:  # abandoned, or the worker is stopping: the job is another worker's now, and its result
            if self._stopping.is_set() and jobs.release(self.sessions, job_id, worker):
                self.queue.enqueue(job_id)  # started after stop_children looked: given back here instead
            return
        if outcome.result is not None and outcome.result.loops is not None:
            outcome.result.loops.plots = self._keep_plots(outcome.plots)
        jobs.finish(self.sessions, job_id, worker, outcome.result.to_dict() if outcome.result else None, outcome.error)

    def stop_children(self) -> None:
        """The worker is stopping: kill every evaluation still running (none outlives its worker) and give
        its job back to the queue without counting the attempt, since the job did nothing wrong."""
        self._stopping.set()
        with self._children_lock:
            children = dict(self._children)
        for job_id, (worker, child) in children.items():
            child.kill()
            child.wait()
            if jobs.release(self.sessions, job_id, worker):
                self.queue.enqueue(job_id)

    def _beat(self, job_id: int, worker: str, progress: _Progress, stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_seconds):
            if not jobs.heartbeat(self.sessions, job_id, worker, progress.stage, progress.scored, progress.to_score):
                progress.abandoned.set()
                return

    def _request(self, job_id: int) -> EvaluationRequest:
        """What the child needs: local paths of the job's files and its options; refused without server data."""
        with self.sessions() as session:
            job = session.get(Evaluation, job_id)
            options = dict(job.options)
            data_dir = options.get("data_dir")
            if not data_dir:
                raise NoEvalData(NO_EVAL_DATA)

            def local(sha256: str) -> Path:
                return self.store.local_copy(sha256, lambda: session.get(StoredFile, sha256).content)

            artifact = local(job.artifact_sha256)
            # the server's tokenizer beside its data unless one was uploaded: never the artifact config's path
            tokenizer = local(job.tokenizer_sha256) if job.tokenizer_sha256 else Path(data_dir) / "tokenizer.model"
        return EvaluationRequest(str(artifact), str(tokenizer), data_dir, options, self.settings.eval_device,
                                 self.settings.loops_tokens, self.settings.max_params,
                                 self.settings.job_max_memory_bytes)

    def _run_child(self, job_id: int, worker: str, request: EvaluationRequest, progress: _Progress) -> _Outcome | None:
        """The child's outcome, or None when the job was abandoned or the worker is stopping."""
        read_fd, write_fd = os.pipe()
        # the child inherits this thread's signal mask: with SIGINT and SIGTERM blocked from the fork on, a
        # Ctrl-C sent to the whole process group never ends the job behind the worker's back (see job_child)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            child = subprocess.Popen([sys.executable, "-m", "webapp.job_child", str(write_fd), str(os.getpid())],
                                     stdin=subprocess.PIPE, pass_fds=(write_fd,))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(write_fd)
        with self._children_lock:
            self._children[job_id] = (worker, child)
        progress.loops_tokens = request.loops_tokens
        try:
            child.stdin.write(request.to_json().encode())
            child.stdin.close()
            return self._follow(job_id, worker, child, read_fd, progress)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            os.close(read_fd)
            with self._children_lock:
                self._children.pop(job_id, None)

    def _follow(self, job_id: int, worker: str, child: subprocess.Popen, read_fd: int,
                progress: _Progress) -> _Outcome | None:
        limit = self.settings.job_timeout_seconds
        deadline = time.monotonic() + limit
        pending = b""
        while True:
            if progress.abandoned.is_set() or self._stopping.is_set():
                return None
            if time.monotonic() > deadline:
                return _Outcome(error=f"stopped at the time limit of {limit:,.0f} s (PGOLF_JOB_TIMEOUT_SECONDS), "
                                      f"at stage {progress.stage} with {progress.scored:,} of {progress.to_score:,} "
                                      "tokens scored")
            ready, _, _ = select.select([read_fd], [], [], POLL_SECONDS)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:  # the child closed its end: it ended without a verdict (killed, out of memory)
                if self._stopping.is_set():  # killed by stop_children, which gives the job back
                    return None
                code = child.wait()
                how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
                return _Outcome(error=f"the evaluation process {how} before it finished (out of memory?)")
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = decode_message(line)
                if isinstance(message, PlanMessage):  # stored at once, the heartbeat carries only progress
                    passes = self._loops_passes()
                    progress.plan = [[name, weight if name != LOOPS_STAGE else round(weight / LOOPS_PASSES * passes),
                                      None] for name, weight in message.stages]
                    self._stage_began(job_id, worker, progress, progress.plan[0][0] if progress.plan else None)
                elif isinstance(message, ProgressMessage):
                    if message.stage != progress.stage:
                        self._stage_began(job_id, worker, progress, message.stage)
                    progress.stage, progress.scored, progress.to_score = message.stage, message.scored, message.to_score
                    progress.last_report = time.time()
                elif isinstance(message, DoneMessage):
                    result = JobResult.from_dict(message.result)
                    passes = _measured_loops_passes(progress.plan, time.time(), progress.loops_tokens)
                    if passes is not None and result.loops is not None:  # a failed analysis measures nothing
                        result.loops_passes = passes
                    return _Outcome(result=result, plots={
                        name: base64.b64decode(png) for name, png in message.plots.items()})
                else:
                    return _Outcome(error=message.error)

    def _loops_passes(self) -> float:
        """What the latest analysis on this server cost, in sliding-window passes over its slice (the same machine,
        data and usually model size), else the prior LOOPS_PASSES."""
        with self.sessions() as session:
            for result in session.scalars(sqlalchemy.select(Evaluation.result).where(Evaluation.state == JobState.DONE)
                                          .order_by(Evaluation.finished_at.desc()).limit(LOOPS_HISTORY)):
                if result and (passes := JobResult.from_dict(result).loops_passes):
                    return passes
        return LOOPS_PASSES

    def _stage_began(self, job_id: int, worker: str, progress: _Progress, stage: str | None) -> None:
        """Stamp the stage's start in the plan and store it (a few writes per job): the page's estimate measures the
        rate from the first stage's start. A stage begins when the one before it sent its last report (the first
        when the plan arrives, just before the model is built), not at its own first report, one batch late."""
        now = time.time()
        unstamped = [index for index, entry in enumerate(progress.plan) if entry[0] == stage and entry[2] is None]
        for index in unstamped:
            progress.plan[index][2] = now if index == 0 or progress.last_report is None else progress.last_report
        if unstamped and not jobs.set_plan(self.sessions, job_id, worker, progress.plan):
            progress.abandoned.set()

    def _keep_plots(self, plots: dict[str, bytes]) -> dict[str, str]:
        """Each PNG stored in the database by its SHA-256 (so any web process can serve it); name -> hash."""
        hashes = {name: hashlib.sha256(png).hexdigest() for name, png in plots.items()}
        with self.sessions.begin() as session:
            for name, png in plots.items():
                if session.get(StoredFile, hashes[name]) is None:
                    session.add(StoredFile(sha256=hashes[name], kind="plot", size=len(png),
                                           display_name=f"{name}.png", content=png))
        return hashes
