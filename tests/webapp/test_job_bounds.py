"""An evaluation job's own bounds, in its process (webapp.job_child): an address-space limit that turns a
model too large for it into a failed job with a one-line reason, and a loop-wise analysis whose failure
leaves the BPB already computed in the result."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from evaluator.service import EvaluationRequest, JobResult, PgolfError, failure, run_evaluation
from evaluator.serving import evaluation
from tests.conftest import REPO


def _request(artifact, data, **overrides) -> EvaluationRequest:
    return EvaluationRequest(**{"artifact": str(artifact), "tokenizer": str(data / "tokenizer.model"),
                                "data_dir": str(data), "options": {"max_tokens": 256}, "device": "cpu",
                                "loops_tokens": 0, "max_params": 1 << 25, "max_memory_bytes": 0, **overrides})


def _run_child(request: EvaluationRequest) -> tuple[int, list[dict]]:
    """The job process as the worker starts it: the request on stdin, its messages on a pipe."""
    read_fd, write_fd = os.pipe()
    child = subprocess.Popen([sys.executable, "-m", "webapp.job_child", str(write_fd), str(os.getpid())], cwd=REPO,
                             stdin=subprocess.PIPE, pass_fds=(write_fd,), stderr=subprocess.PIPE)
    os.close(write_fd)
    child.stdin.write(request.to_json().encode())
    child.stdin.close()
    with os.fdopen(read_fd) as channel:
        messages = [json.loads(line) for line in channel]
    child.stderr.read()
    return child.wait(), messages


def test_a_job_past_its_address_space_fails_in_one_line(tiny_artifact, eval_data):
    code, messages = _run_child(_request(tiny_artifact, eval_data, max_memory_bytes=256 << 20))
    assert code == 1 and messages[-1]["kind"] == "failed"
    assert messages[-1]["error"].startswith("out of memory: this job may map 268,435,456 bytes "
                                            "(PGOLF_JOB_MAX_MEMORY_BYTES)"), messages[-1]
    code, messages = _run_child(_request(tiny_artifact, eval_data, max_memory_bytes=8 << 30))
    assert code == 0 and messages[-1]["kind"] == "done"


def test_a_failed_loop_analysis_keeps_the_bpb(tiny_artifact, eval_data, monkeypatch):
    def out_of_memory(*args):
        raise MemoryError()

    monkeypatch.setattr(evaluation, "run_loop_analysis", out_of_memory)
    result, plots = run_evaluation(_request(tiny_artifact, eval_data, loops_tokens=64), lambda message: None)
    assert result.loops_error == "MemoryError" and result.loops is None and plots == {}  # no limit: the error as it came
    limited = _request(tiny_artifact, eval_data, max_memory_bytes=1 << 30)
    assert failure(MemoryError(), limited).startswith("out of memory: this job may map 1,073,741,824 bytes")
    missing = FileNotFoundError(f"{eval_data}/fineweb_val_000000.bin: not found")
    assert failure(missing, limited) == "FileNotFoundError: the server's data/fineweb_val_000000.bin: not found"
    assert result.report["roundtrip"]["val_bpb"] > 0 and result.report["sliding_window"]["val_bpb"] > 0
    assert JobResult.from_dict(result.to_dict()) == result


def test_the_job_opens_the_artifact_under_the_servers_parameter_cap(tiny_artifact, eval_data):
    # the cap travels in the request, as an argument of the evaluation, not through the environment
    with pytest.raises(PgolfError, match="more than the 1,000 allowed"):
        run_evaluation(_request(tiny_artifact, eval_data, max_params=1000), lambda message: None)
    assert "PGOLF_MAX_PARAMS" not in os.environ
