"""Uploads turned into evaluation jobs.

An upload is checked before anything is kept (evaluator.service.check_upload: the artifact with the evaluator's
safe reader, no unpickling of code; the tokenizer with SentencePiece; the config as JSON or TOML of crawler
settings). The same artifact + tokenizer + options find the earlier job again; a failed one is run again.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from evaluator.service import UploadLimits, UploadRefused, UploadedFile, check_upload, config_options
from webapp import jobs
from webapp.blobs import BlobStore
from webapp.capacity import check_capacity
from webapp.queue import EvalQueue
from webapp.settings import Settings
from webapp.tables import Evaluation, JobState, StoredFile
from webapp.upload import ReceivedFile, ReceivedForm, UploadRejected

FILE_FIELDS = {"artifact", "tokenizer", "config"}
# Uploads' artifacts are measured, decompressed and dequantised on these two threads only, whatever the
# number of concurrent uploads: each check can hold a few hundred MB, and the C allocator keeps freed
# blocks in per-thread arenas, so checks spread over the web server's 40 request threads would leave up
# to 40 decompression windows resident after the uploads are gone.
_CHECKERS = ThreadPoolExecutor(2, thread_name_prefix="upload-check")


@dataclass
class Upload:
    form: ReceivedForm
    options: dict  # evaluate_artifact's keyword arguments: from the config, then from the server's settings
    max_decompressed_bytes: int  # what the artifact's frames may decompress to (Settings)
    max_params: int  # what the artifact may declare (Settings)

    @property
    def inputs_key(self) -> str:
        # the config counts through the options it sets, so two configs that set the same ones are one job
        files = {name: received.sha256 for name, received in self.form.files.items() if name != "config"}
        blob = json.dumps({"files": files, "options": self.options}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _uploaded(received: ReceivedFile) -> UploadedFile:
    return UploadedFile(received.path, received.display_name, received.size)


def read_upload(form: ReceivedForm, settings: Settings) -> Upload:
    if "artifact" not in form.files:
        raise UploadRejected(400, "no artifact: send the .ptz in the form field 'artifact'")
    empty = next((f for f in form.files.values() if f.size == 0), None)
    if empty is not None:
        raise UploadRejected(422, f"{empty.field} {empty.display_name} is empty")
    if settings.eval_data_dir is None:
        # an artifact's config names data and tokenizer paths; opening those would let uploads probe the server
        raise UploadRejected(503, "this server has no evaluation data (start it with --eval-data DIR or "
                                  "PGOLF_EVAL_DATA_DIR), so it evaluates no uploads; an upload never chooses the data "
                                  "it is evaluated on")
    try:
        options = config_options(_uploaded(form.files["config"])) if "config" in form.files else {}
    except UploadRefused as exc:
        raise UploadRejected(422, str(exc)) from None
    # what the server evaluates on belongs to the job too: a later change of settings is a new evaluation
    options["data_dir"] = str(settings.eval_data_dir.resolve())
    if settings.eval_max_tokens is not None:
        options["max_tokens"] = settings.eval_max_tokens
    return Upload(form, options, settings.upload_max_decompressed_bytes, settings.max_params)


def check_files(upload: Upload) -> str:
    """The artifact's format, once it and the tokenizer have passed the evaluator's safe readers."""
    files = upload.form.files
    try:
        return check_upload(_uploaded(files["artifact"]), _uploaded(files["tokenizer"]) if "tokenizer" in files else None,
                            upload.options, UploadLimits(upload.max_decompressed_bytes, upload.max_params))
    except UploadRefused as exc:
        raise UploadRejected(422, str(exc)) from None


def _keep_files(session: Session, form: ReceivedForm, store: BlobStore, settings: Settings) -> None:
    # stored once: with the SQLite queue every worker shares this data dir, so the file on disk is the only
    # copy; with Redis, workers on other machines read the bytes from the database, which is then the only copy
    in_database = settings.queue == "redis"
    for kind, received in form.files.items():
        if session.get(StoredFile, received.sha256) is None:
            session.add(StoredFile(sha256=received.sha256, kind=kind, size=received.size,
                                   display_name=received.display_name,
                                   content=received.path.read_bytes() if in_database else b""))
        if in_database:
            received.path.unlink(missing_ok=True)
        else:
            store.keep(received.path, received.sha256)


def submit(upload: Upload, sessions: sessionmaker, store: BlobStore, queue: EvalQueue,
           settings: Settings) -> tuple[int, bool]:
    """(job id, reused): an earlier queued, running or done job with these inputs is returned as it is;
    otherwise the files are checked and kept, and a new job (or the failed one again) is queued."""
    form, key = upload.form, upload.inputs_key
    files = form.files
    with sessions() as session:
        existing = session.scalar(select(Evaluation).where(Evaluation.inputs_key == key))
        if existing is not None and existing.state != JobState.FAILED:
            form.discard()
            return existing.id, True
        check_capacity(session, form, settings)
        artifact_format = _CHECKERS.submit(check_files, upload).result()
        _keep_files(session, form, store, settings)
        if existing is not None:
            job_id = existing.id
            jobs.run_again(session, job_id)
        else:
            job = Evaluation(inputs_key=key, artifact_sha256=files["artifact"].sha256,
                             tokenizer_sha256=files["tokenizer"].sha256 if "tokenizer" in files else None,
                             config_sha256=files["config"].sha256 if "config" in files else None,
                             options=upload.options, artifact_format=artifact_format)
            session.add(job)
            try:
                session.flush()
            except IntegrityError:  # the same inputs arrived at the same moment: that job is this one
                session.rollback()
                return session.scalar(select(Evaluation.id).where(Evaluation.inputs_key == key)), True
            job_id = job.id
        session.commit()
    queue.enqueue(job_id)
    return job_id, False
