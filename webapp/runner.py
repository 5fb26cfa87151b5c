"""The worker's task body: run one evaluation job, with a heartbeat thread reporting liveness and progress."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import traceback
from pathlib import Path

import torch
from sqlalchemy.orm import sessionmaker

from crawler.errors import PgolfError
from evaluator.artifact_eval import evaluate_artifact
from evaluator.loops import LoopsError
from crawler.distributed import single_process
from webapp import jobs
from webapp.blobs import BlobStore
from webapp.loops import run_analysis
from webapp.queue import EvalQueue
from webapp.settings import Settings
from webapp.tables import Evaluation, StoredFile

# how long a job waits before asking again for a slot when all are busy
SLOT_RETRY_SECONDS = 2.0


class Abandoned(Exception):
    """The job was declared dead and handed to another worker while this one was still running it."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PgolfError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Progress:
    """The latest progress, written by the evaluation and read by the heartbeat thread."""

    def __init__(self):
        self.stage, self.scored, self.to_score = "loading", 0, 0
        self.abandoned = threading.Event()

    def update(self, stage: str, scored: int, to_score: int) -> None:
        if self.abandoned.is_set():
            raise Abandoned()
        self.stage, self.scored, self.to_score = stage, scored, to_score


class JobRunner:
    def __init__(self, settings: Settings, sessions: sessionmaker):
        self.settings = settings
        self.sessions = sessions
        self.store = BlobStore(settings.data_dir)
        self.queue: EvalQueue | None = None  # set once the queue that calls this runner exists

    def __call__(self, job_id: int) -> None:
        worker = worker_name()
        outcome = jobs.claim(self.sessions, job_id, worker, self.settings.max_concurrent_evals)
        if outcome == jobs.Claim.NO_SLOT:
            self.queue.enqueue(job_id, delay=SLOT_RETRY_SECONDS)
        if outcome != jobs.Claim.TAKEN:
            return
        progress = _Progress()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job_id, worker, progress, stop), daemon=True,
                                name=f"heartbeat-{job_id}")
        beat.start()
        result, error = None, ""
        try:
            result = self._evaluate(job_id, progress)
        except Abandoned:
            return
        except Exception as exc:  # any failure is the job's result, shown on its page
            error = one_line(exc)
            if not isinstance(exc, PgolfError):
                traceback.print_exc()
        finally:
            stop.set()
            beat.join()
        jobs.finish(self.sessions, job_id, worker, result, error)

    def _beat(self, job_id: int, worker: str, progress: _Progress, stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_seconds):
            if not jobs.heartbeat(self.sessions, job_id, worker, progress.stage, progress.scored, progress.to_score):
                progress.abandoned.set()
                return

    def _evaluate(self, job_id: int, progress: _Progress) -> dict:
        with self.sessions() as session:
            job = session.get(Evaluation, job_id)

            def local(sha256: str) -> Path:
                return self.store.local_copy(sha256, lambda: session.get(StoredFile, sha256).content)

            artifact = local(job.artifact_sha256)
            tokenizer = local(job.tokenizer_sha256) if job.tokenizer_sha256 else None
            options = dict(job.options)
        data_dir = options.get("data_dir")
        if tokenizer is None and data_dir:
            # the evaluator would look beside the artifact config's data path, not the one given here
            tokenizer = Path(data_dir) / "tokenizer.model"
        device = torch.device(self.settings.eval_device or ("cuda" if torch.cuda.is_available() else "cpu"))
        report = evaluate_artifact(artifact, data_path=data_dir, tokenizer_path=tokenizer,
                                   max_tokens=options.get("max_tokens"), loops=options.get("loops"),
                                   seq_len=options.get("seq_len"), stride=options.get("stride"),
                                   dist_info=single_process(device), on_progress=progress.update)
        result = report.to_dict()
        if self.settings.loops_tokens:
            progress.update("loops", 0, 0)
            try:
                loops, plots = run_analysis(artifact, data_dir, tokenizer, options, self.settings.loops_tokens, device)
            except LoopsError as exc:  # e.g. a validation split too short for the slice: the BPB still stands
                result["loops_error"] = one_line(exc)
            else:
                result["loops"] = {"report": loops, "plots": self._keep_plots(plots)}
        return result

    def _keep_plots(self, plots: dict[str, bytes]) -> dict[str, str]:
        """Each PNG stored in the database by its SHA-256 (so any web process can serve it); name -> hash."""
        hashes = {name: hashlib.sha256(png).hexdigest() for name, png in plots.items()}
        with self.sessions.begin() as session:
            for name, png in plots.items():
                if session.get(StoredFile, hashes[name]) is None:
                    session.add(StoredFile(sha256=hashes[name], kind="plot", size=len(png),
                                           display_name=f"{name}.png", content=png))
        return hashes
