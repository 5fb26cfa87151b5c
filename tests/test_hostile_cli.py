"""Hostile command lines, crafted here: devices, named pipes, folders and missing files where a file goes,
outputs that cannot be written, and values no evaluation can use. Each is refused before any work
starts, as exactly one line on stderr and exit status 1, with nothing written."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pgolf import app
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def place(tmp_path, tiny_artifact, eval_data) -> Path:
    """A folder holding a real artifact, a named pipe, a folder and a read-only file system's path."""
    (tmp_path / "tiny.ptz").write_bytes(tiny_artifact.read_bytes())
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    (tmp_path / "data").symlink_to(eval_data)
    return tmp_path


def _refused(place: Path, args: list[str], words: str) -> None:
    before = sorted(p.name for p in place.rglob("*"))
    started = time.monotonic()
    result = runner.invoke(app, [a.replace("PLACE", str(place)) for a in args])
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert words.replace("PLACE", str(place)) in result.stderr, result.stderr
    assert time.monotonic() - started < 5  # refused before any evaluation
    assert sorted(p.name for p in place.rglob("*")) == before  # no report, no .tmp, no probe left


EVAL = ["eval", "PLACE/tiny.ptz", "--data", "PLACE/data", "--device", "cpu", "--max-tokens", "64", "--no-progress"]


@pytest.mark.parametrize("args, words", [
    (["eval", "PLACE/folder"], "PLACE/folder: artifact is a directory, not a regular file"),
    (["eval", "PLACE/missing.ptz"], "PLACE/missing.ptz: artifact: cannot read (No such file or directory)"),
    (["eval", "PLACE/tiny.ptz/x"], "PLACE/tiny.ptz/x: artifact: cannot read (Not a directory)"),
    ([*EVAL, "--tokenizer", "PLACE/pipe"], "PLACE/pipe: tokenizer is a named pipe, not a regular file"),
    ([*EVAL, "--checkpoint", "PLACE/pipe"], "PLACE/pipe: checkpoint is a named pipe, not a regular file"),
    ([*EVAL, "--code", "PLACE/missing.py"], "PLACE/missing.py: code file: cannot read (No such file or directory)"),
    ([*EVAL, "--code", "/dev/zero"], "/dev/zero: code file is a character device, not a regular file"),
    (["eval", "PLACE/tiny.ptz", "--data", "PLACE/tiny.ptz"],
     "PLACE/tiny.ptz: data folder is a regular file, not a folder"),
    ([*EVAL, "--out", "PLACE/folder"], "PLACE/folder: --out is a directory, not a file to write"),
    ([*EVAL, "--out", "PLACE/nowhere/r.json"], "PLACE/nowhere/r.json: --out: folder PLACE/nowhere does not exist"),
    ([*EVAL, "--out", "/proc/r.json"], "/proc/r.json: --out: cannot write in /proc"),
    ([*EVAL, "--out", "/dev/null"], "/dev/null: --out is a character device, not a file to write"),
    ([*EVAL, "--batch-seqs", "0"], "--batch-seqs must be at least 1, got 0"),
    ([*EVAL, "--stride", "0"], "--stride must be at least 1, got 0"),
    ([*EVAL, "--seq-len", "-5"], "--seq-len must be at least 1, got -5"),
    ([*EVAL, "--max-tokens", "-1"], "--max-tokens must be at least 0, got -1"),
    ([*EVAL, "--loops", "0"], "--loops must be at least 1, got 0"),
    ([*EVAL[:-3], "--device", "tpu:7"], "--device 'tpu:7': not a device (cpu, cuda or cuda:N)"),
    ([*EVAL[:-3], "--device", "meta"], "--device 'meta': not a device (cpu, cuda or cuda:N)"),
    (["loops", "PLACE/folder"], "PLACE/folder: artifact is a directory, not a regular file"),
    (["loops", "PLACE/tiny.ptz", "--checkpoint", "PLACE/pipe"], "PLACE/pipe: checkpoint is a named pipe"),
    (["loops", "PLACE/tiny.ptz", "--out", "PLACE/tiny.ptz"], "--out: PLACE/tiny.ptz is a regular file, not a folder"),
    (["loops", "PLACE/tiny.ptz", "--out", "/proc/loops"], "/proc/loops: --out: cannot write in /proc"),
    (["loops", "PLACE/tiny.ptz", "--tokens", "0"], "--tokens must be at least 1, got 0"),
    (["loops", "PLACE/tiny.ptz", "--batch-seqs", "0"], "--batch-seqs must be at least 1, got 0"),
    (["loops", "PLACE/tiny.ptz", "--extra-loops", "-1"], "--extra-loops must be at least 0, got -1"),
    (["loops", "PLACE/tiny.ptz", "--device", "tpu:7"], "--device 'tpu:7': not a device"),
])
def test_bad_inputs_are_one_line_before_any_work(place, args, words):
    _refused(place, args, words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", [EVAL[:-3], ["loops", "PLACE/tiny.ptz"]])
def test_cuda_without_a_gpu_is_one_line(place, command):
    _refused(place, [*command, "--device", "cuda"], "--device cuda: no CUDA GPU is available on this machine")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_artifact_is_one_line(place):
    (place / "tiny.ptz").chmod(0)
    _refused(place, ["eval", "PLACE/tiny.ptz"], "PLACE/tiny.ptz: artifact: cannot read (permission denied)")


def _pgolf(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in its own process: a regression here would hang, and the timeout catches it."""
    return subprocess.run([sys.executable, "-m", "pgolf", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("artifact, words", [
    ("/dev/zero", "error: /dev/zero: artifact is a character device, not a regular file\n"),
    ("PLACE/pipe", "error: PLACE/pipe: artifact is a named pipe, not a regular file\n"),
])
@pytest.mark.parametrize("command", ["eval", "loops"])
def test_devices_and_pipes_as_artifact_are_refused_at_once(place, command, artifact, words):
    done = _pgolf([command, artifact.replace("PLACE", str(place))])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == words.replace("PLACE", str(place))


@pytest.mark.parametrize("plan, words", [
    ("/dev/zero", "error: /dev/zero: ablation file is a character device, not a regular file\n"),
    ("PLACE/pipe", "error: PLACE/pipe: ablation file is a named pipe, not a regular file\n"),
])
def test_devices_and_pipes_as_ablation_file_are_refused_at_once(place, plan, words):
    done = _pgolf(["ablate", plan.replace("PLACE", str(place))])
    assert (done.returncode, done.stdout, done.stderr) == (1, "", words.replace("PLACE", str(place)))


def test_a_pipe_or_device_given_to_check_as_artifact_or_submission_does_not_block(place, tmp_path):
    """check/seeds read a record folder; a named pipe there, or as --artifact, ends with an answer."""
    record = tmp_path / "record"
    record.mkdir()
    os.mkfifo(record / "submission.json")
    (record / "README.md").write_text("# a record\n")
    assert _pgolf(["check", str(record)]).returncode == 1
    assert _pgolf(["seeds", str(record)]).returncode in (0, 1)
    done = _pgolf(["check", str(record), "--artifact", str(place / "pipe")])
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    assert f"{place / 'pipe'}: not a regular file" in done.stderr + done.stdout


def _small_files_only():
    # as a full disk would: a write past 1 kB fails (EFBIG, with SIGXFSZ ignored so the write returns the error)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # the report is ~3 kB


def test_a_report_that_cannot_be_written_is_one_line_and_leaves_no_tmp(place):
    done = subprocess.run([sys.executable, "-m", "pgolf", *[a.replace("PLACE", str(place)) for a in EVAL]],
                          cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=_small_files_only)
    out = place / "tiny.eval.json"
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr == f"error: {out}: cannot write (File too large)\n"
    assert not out.exists() and not list(place.glob(f".{out.name}.*"))
