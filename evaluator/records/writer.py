"""Turn training runs (runs/<run_id>/train.log + its .ptz artifact) into a record folder in the
challenge's layout: README.md, submission.json, train_seed<N>.log per run, and the code that ships.

The code is explicit: the files given as `code`, in order. Their bytes must add up to the code size
each run logged, and when the artifact is a readable .ptz their concatenation must hash to the
code_sha256 in its manifest - so the folder ships exactly the code that was counted. One of them
must land as train_gpt.py, the script the challenge runs.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass
import datetime as dt
from pathlib import Path

from crawler.contract import RUN_LOG, SIZE_CAP_BYTES, MetricKind
from crawler.errors import PgolfError
from crawler.shipped import ENTRY_SCRIPT
from evaluator.records.headline import choose_headline_kind
from evaluator.records.logs import parse_log
from evaluator.records.metric_kinds import KIND_DESCRIPTIONS
from evaluator.records.seeds import SeedRow, markdown_table, seed_grid, seed_row
from evaluator.records.stats import summarize
from evaluator.records.train_log import TrainLog

ARTIFACT_SUFFIX = ".ptz"


class RecordWriteError(PgolfError, ValueError):
    pass


@dataclass(frozen=True)
class RecordMeta:
    name: str
    author: str
    github_id: str
    blurb: str
    date: dt.date
    architecture: str = ""


@dataclass(frozen=True)
class CodeFileSpec:
    source: Path
    dest: str  # path inside the record folder


@dataclass
class _Run:
    folder: Path
    log: TrainLog
    artifact: Path


def code_spec(path: Path, cwd: Path) -> CodeFileSpec:
    """Relative paths keep their place (crawler/model.py stays crawler/model.py); others keep their name."""
    if not path.is_file():
        raise RecordWriteError(f"{path}: code file not found")
    dest = path.as_posix() if not path.is_absolute() else path.name
    resolved = path.resolve()
    if path.is_absolute() and resolved.is_relative_to(cwd.resolve()):
        dest = resolved.relative_to(cwd.resolve()).as_posix()
    if dest.startswith("../") or "/../" in dest:
        raise RecordWriteError(f"{path}: code files must sit under the current directory or be given by absolute path")
    return CodeFileSpec(path, dest)


def _read_run(folder: Path) -> _Run:
    if not folder.is_dir():
        raise RecordWriteError(f"{folder}: not a run folder")
    log_path = folder / RUN_LOG
    if not log_path.is_file():
        raise RecordWriteError(f"{folder}: no {RUN_LOG}")
    log = parse_log(log_path)
    artifacts = sorted(folder.glob(f"*{ARTIFACT_SUFFIX}"))
    if len(artifacts) != 1:
        raise RecordWriteError(f"{folder}: expected one {ARTIFACT_SUFFIX} artifact, found {len(artifacts)}")
    problems = []
    if log.seed is None:
        problems.append("no seed")
    if not log.kinds():
        problems.append("no final evaluation line")
    if log.model_bytes is None or log.total_bytes is None or log.counted_code_bytes is None:
        problems.append("no Code size / Serialized model / Total submission size lines")
    if problems:
        raise RecordWriteError(f"{log_path}: {', '.join(problems)}")
    size = artifacts[0].stat().st_size
    if size != log.model_bytes.bytes:
        raise RecordWriteError(f"{artifacts[0]}: {size} bytes but {RUN_LOG} line {log.model_bytes.line} "
                               f"says the model is {log.model_bytes.bytes} bytes")
    return _Run(folder, log, artifacts[0])


def _artifact_code_sha(artifact: Path) -> str | None:
    """The code hash a readable .ptz manifest records; None for files that are not our artifact."""
    from crawler.ptz import ArtifactError, read_artifact
    try:
        _, _, manifest = read_artifact(artifact)
    except (ArtifactError, OSError):
        return None
    return manifest.get("code_sha256") if isinstance(manifest, dict) else None


def _check_code(runs: list[_Run], code: list[CodeFileSpec]) -> bytes:
    if not any(spec.dest == ENTRY_SCRIPT for spec in code):
        raise RecordWriteError(f"one code file must be {ENTRY_SCRIPT} (the script the challenge runs); got "
                               f"{', '.join(spec.dest for spec in code) or 'none'}")
    dests = [spec.dest for spec in code]
    if len(set(dests)) != len(dests):
        raise RecordWriteError(f"two code files would land on the same path: {dests}")
    blob = b"".join(spec.source.read_bytes() for spec in code)
    digest = hashlib.sha256(blob).hexdigest()
    for run in runs:
        counted = run.log.counted_code_bytes
        if counted.bytes != len(blob):
            raise RecordWriteError(f"the code files add up to {len(blob)} bytes but {run.folder / RUN_LOG} "
                                   f"line {counted.line} counted {counted.bytes}: ship the code that was counted")
        sha = _artifact_code_sha(run.artifact)
        if sha is not None and sha != digest:
            raise RecordWriteError(f"the code files (in the order given) hash to {digest[:12]} but {run.artifact} "
                                   f"was exported with code {sha[:12]}")
    return blob


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _submission(meta: RecordMeta, rows: list[SeedRow], kind: str, code_bytes: int) -> dict:
    bpb = summarize([r.headline_bpb for r in rows])
    loss = summarize([r.val_loss for r in rows if r.val_loss is not None])
    data = {
        "author": meta.author, "github_id": meta.github_id, "name": meta.name, "blurb": meta.blurb,
        "date": meta.date.isoformat(), "val_bpb": _round(bpb.mean, 8),
        "val_loss": _round(loss.mean, 8) if loss.n == len(rows) else None,
        "bytes_total": max(r.total_bytes for r in rows), "bytes_code": code_bytes,
        "metric_kind": kind, "seeds": [r.seed for r in rows],
    }
    if bpb.n >= 2:
        data["val_bpb_std"] = _round(bpb.std, 8)
    data["seed_results"] = {str(r.seed): {k: v for k, v in {
        "val_bpb": _round(r.headline_bpb, 8), "val_loss": _round(r.val_loss, 8), "steps": r.steps,
        "train_time_s": _round(r.train_time_s, 3), "eval_time_s": _round(r.eval_time_s, 3),
        "bytes_total": r.total_bytes, "bytes_model": r.model_bytes}.items() if v is not None} for r in rows}
    return {k: v for k, v in data.items() if v is not None}


def _log_field(folder: Path, prefix: str) -> str | None:
    """A `prefix...` header line of our trainer's log (its config JSON, its device), if the run has one."""
    for line in (folder / RUN_LOG).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    return None


def _hardware(folder: Path, world: int) -> str:
    device = _log_field(folder, "device:")
    if device and device.split()[0] == "cpu":
        return f"CPU ({world} process{'es' if world > 1 else ''})"
    return f"{world} GPU(s)"


def _reproduce(run: _Run, seed: int, world: int) -> str:
    """The command that reruns this seed: every config field that differs from the leg3 defaults, as flags."""
    from crawler.config import CrawlerConfig, config_from_dict

    launch = f"torchrun --standalone --nproc_per_node={world}" if world > 1 else "python"
    config = _log_field(run.folder, "config:")
    if config is None:
        return f"SEED={seed} {launch} {ENTRY_SCRIPT}"
    defaults = CrawlerConfig().to_dict()
    changed = {k: v for k, v in config_from_dict(json.loads(config)).to_dict().items()
               if v != defaults[k] and k not in ("seed", "out_dir", "run_id")}
    flags = " ".join(f"--set {k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in changed.items())
    return f"SEED={seed} {launch} {ENTRY_SCRIPT} {flags}".rstrip()


def _readme(meta: RecordMeta, rows: list[SeedRow], runs: list[_Run], kind: str, code: list[CodeFileSpec]) -> str:
    bpb = summarize([r.headline_bpb for r in rows])
    first = runs[0].log
    world = int(first.world_size.value) if first.world_size else 8
    facts = [f"- Parameters: {int(first.model_params.value):,}" if first.model_params else None,
             f"- Tokenizer: {first.tokenizer}" + (f" (vocab {first.vocab_size})" if first.vocab_size else "")
             if first.tokenizer else None,
             f"- Trained on {_hardware(runs[0].folder, world)}, iterations cap {int(first.iterations.value)}"
             if first.iterations else None]
    std = f", sample std {bpb.std:.8f}" if bpb.std is not None else ""
    lines = [f"# {meta.name} — val_bpb {bpb.mean:.4f} ({bpb.n}-seed mean)", "", meta.blurb, "",
             "## Architecture", ""]
    if meta.architecture:
        lines += [meta.architecture, ""]
    lines += [fact for fact in facts if fact] + ["", "## Results", "",
              f"Scored metric: {kind} ({KIND_DESCRIPTIONS[MetricKind(kind)]}).", "",
              markdown_table(*seed_grid(rows, [MetricKind(kind)], with_log=False))]
    worst = max(rows, key=lambda r: r.total_bytes)
    lines += ["", f"Mean {bpb.mean:.8f}{std} over {bpb.n} seed(s); worst seed size {worst.total_bytes:,} bytes "
              f"(seed {worst.seed}) against the {SIZE_CAP_BYTES:,}-byte cap.", "", "## Reproduce", "", "```bash"]
    lines += [_reproduce(run, r.seed, world) for run, r in zip(runs, rows)]
    lines += ["```", "", "## Files", ""]
    lines += [f"- `{spec.dest}`" for spec in code]
    lines += [f"- `train_seed{r.seed}.log`" for r in rows] + ["- `submission.json`", ""]
    return "\n".join(lines)


def write_record(run_folders: list[Path], out_root: Path, meta: RecordMeta, code: list[CodeFileSpec]) -> Path:
    """Write the record folder and return its path; raises RecordWriteError before writing anything if
    the runs and code do not make a consistent record."""
    if not run_folders:
        raise RecordWriteError("give at least one run folder")
    if "/" in meta.name or meta.name in ("", ".", ".."):
        raise RecordWriteError(f"record name {meta.name!r} cannot be a folder name")
    runs = [_read_run(folder) for folder in run_folders]
    seeds = [run.log.seed for run in runs]
    if len(set(seeds)) != len(seeds):
        raise RecordWriteError(f"runs share a seed: {seeds}")
    blob = _check_code(runs, code)
    kind, _ = choose_headline_kind([run.log for run in runs], None)
    rows = [seed_row(run.log, kind) for run in runs]
    if any(not math.isfinite(r.headline_bpb) for r in rows):
        raise RecordWriteError("a run's final val_bpb is not finite")
    folder = out_root / f"{meta.date.isoformat()}_{meta.name}"
    if folder.exists():
        raise RecordWriteError(f"{folder}: already exists")
    folder.mkdir(parents=True)
    for run in runs:
        shutil.copyfile(run.folder / RUN_LOG, folder / f"train_seed{run.log.seed}.log")
    for spec in code:
        target = folder / spec.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec.source, target)
    submission = _submission(meta, rows, kind.value, len(blob))
    (folder / "submission.json").write_text(json.dumps(submission, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(_readme(meta, rows, runs, kind.value, code), encoding="utf-8")
    return folder
