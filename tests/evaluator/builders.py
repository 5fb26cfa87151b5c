"""Runs and record folders built for the checker's tests: trainer logs in our format, run folders, a record
written by `pgolf record` and one written by hand (to break one thing at a time), a stand-in evaluation, and a records root of hostile folders."""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from evaluator.artifacts.eval_report import AuditReport, EvalReport, PassScore, SizeReport
from evaluator.records.writer import CodeFileSpec, RecordMeta, write_record
from tests.conftest import DEMO_RECORD_DIR

CODE = ("import os\nimport sys\nfrom pathlib import Path\n\n\ndef main():\n    print('crawl', sys.argv, Path(os.getcwd()))"
        "\n\n\nif __name__ == '__main__':\n    main()\n")
SEEDS = {1337: 1.18720375, 42: 1.18761637, 300: 1.18745690}


def trainer_log(seed: int, bpb: float, code_bytes: int, model_bytes: int, train_ms: int = 598_000,
                stop: bool = True, eval_ms: int = 59_454, source: str | None = None) -> str:
    """A log in the format our trainer writes (runs/<run_id>/train.log)."""
    loss = bpb * 1.6884
    lines = [source + "\n" + "=" * 100] if source is not None else []
    lines += [f"run_id:r{seed} run_dir:runs/r{seed}", "model_params:14462508", "world_size:8 grad_accum_steps:1",
              "train_batch_tokens:786432 train_seq_len:2048 iterations:20000 warmup_steps:20 max_wallclock_seconds:600.000",
              "tokenizer_path=data/tokenizer.model", f"seed:{seed}",
              "step:0/20000 val_loss:6.9293 val_bpb:4.1039 train_time:0ms step_avg:0.01ms",
              "step:1/20000 train_loss:6.9313 train_time:124ms step_avg:124.26ms",
              f"step:8087/20000 val_loss:2.0230 val_bpb:1.1982 train_time:{train_ms}ms step_avg:74.19ms"]
    if stop:
        lines.append(f"stopping_early: wallclock_cap train_time:{train_ms}ms step:8087/20000")
    lines += ["post_average val_loss:2.0230 val_bpb:1.1982", "Serialized model: 55905148 bytes",
              f"Code size: {code_bytes} bytes", f"Serialized model int6+zstd: {model_bytes} bytes",
              f"Total submission size int6+zstd: {code_bytes + model_bytes} bytes",
              f"final_int6_roundtrip val_loss:{(bpb + 0.02) * 1.6884:.4f} val_bpb:{bpb + 0.02:.4f} eval_time:3619ms",
              f"final_int6_roundtrip_exact val_loss:{(bpb + 0.02) * 1.6884:.8f} val_bpb:{bpb + 0.02:.8f}",
              f"final_int6_sliding_window val_loss:{loss:.4f} val_bpb:{bpb:.4f} stride:64 eval_time:{eval_ms}ms",
              f"final_int6_sliding_window_exact val_loss:{loss:.8f} val_bpb:{bpb:.8f}"]
    return "\n".join(lines) + "\n"


def make_run(root: Path, seed: int, bpb: float, model_bytes: int = 9_000_000, **log_options) -> Path:
    run = root / "runs" / f"r{seed}"
    run.mkdir(parents=True)
    (run / "train.log").write_text(trainer_log(seed, bpb, len(CODE), model_bytes, **log_options), encoding="utf-8")
    (run / "final_model.ptz").write_bytes(b"\x00" * model_bytes)
    return run


def code_file(root: Path) -> Path:
    path = root / "code" / "train_gpt.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CODE, encoding="utf-8")
    return path


META = RecordMeta(name="Micro Crawler demo", author="Test Author", github_id="tester",
                  blurb="A synthetic record.", date=date(2026, 5, 1), architecture="4 flat + 1 crawler x 3.")


def written_record(tmp_path: Path, seeds: dict[int, float] = SEEDS, **run_options) -> Path:
    runs = [make_run(tmp_path, seed, bpb, **run_options) for seed, bpb in seeds.items()]
    return write_record(runs, tmp_path / "records" / "track_10min_16mb", META,
                        [CodeFileSpec(code_file(tmp_path), "train_gpt.py")])


def hand_record(folder: Path, seeds: dict[int, float] = SEEDS, model_bytes: int = 9_000_000,
                submission: dict | None = None, **log_options) -> Path:
    """A record folder written directly, for breaking one thing at a time."""
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# demo\n", encoding="utf-8")
    (folder / "train_gpt.py").write_text(CODE, encoding="utf-8")
    for seed, bpb in seeds.items():
        (folder / f"train_seed{seed}.log").write_text(
            trainer_log(seed, bpb, len(CODE), model_bytes, **log_options), encoding="utf-8")
    mean = sum(seeds.values()) / len(seeds)
    data = {"author": "a", "github_id": "a", "name": "demo", "blurb": "b", "date": "2026-05-01",
            "val_bpb": round(mean, 8), "val_loss": round(mean * 1.6884, 8),
            "bytes_total": len(CODE) + model_bytes, "bytes_code": len(CODE), "seeds": list(seeds)}
    data.update(submission or {})
    (folder / "submission.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def fake_evaluation(model_bytes: int, sliding_bpb: float, roundtrip_bpb: float, full: bool = True) -> EvalReport:
    """An evaluation report with the given numbers, as if `pgolf eval` had scored a FineWeb artifact."""
    available = 62_021_631
    scored = available if full else 65_536

    def score(bpb: float, stride: int) -> PassScore:
        return PassScore(val_loss=bpb * 1.6884, val_bpb=bpb, nll_sum=0.0, byte_sum=0, scored_tokens=scored,
                         available_tokens=available, coverage=scored / available, seconds=1.0, seq_len=2048,
                         stride=stride)

    return EvalReport(
        artifact="final_model.ptz", sha256="ab" * 32, format="pgolf-ptz", assumptions=[], device="cpu", world_size=1,
        data_path="data", tokenizer="tokenizer.model", max_tokens=scored,
        prefix_note="full validation split" if full else "PREFIX ONLY: first 65,536 targets",
        roundtrip=score(roundtrip_bpb, 2048), sliding_window=score(sliding_bpb, 64),
        audit=AuditReport(lut_bytes=1, text_bytes=1, ratio=1.0),
        size=SizeReport(model_bytes=model_bytes, code_bytes=len(CODE), code_source="artifact manifest"))


SECRET = "TOP-SECRET-server-file-0451"
HUGE = "9" * 5000
TRACK = "track_10min_16mb"
DEEP = '{"a": ' * 1000 + "1" + "}" * 1000
# a real report, as `pgolf loops` wrote it for the demo record
DEMO_LOOPS = DEMO_RECORD_DIR / "loops" / "loops.json"


def _submission(folder: Path, text: str) -> None:
    (folder / "submission.json").write_text(text, encoding="utf-8")


def _loops(folder: Path, text: str | None = None) -> Path:
    (folder / "loops").mkdir()
    (folder / "loops" / "loops.json").write_text(text or DEMO_LOOPS.read_text(encoding="utf-8"), encoding="utf-8")
    return folder / "loops"


def build_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """A records root with one healthy record and one record per fault; returns (root, the outside folder)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n", encoding="utf-8")
    (outside / "secret.log").write_text(trainer_log(7, 1.1, 100, 9_000_000).replace("run_id", SECRET), encoding="utf-8")
    (outside / "secret.json").write_text(json.dumps({"name": SECRET, "val_bpb": 1.1}), encoding="utf-8")
    (outside / "secret.png").write_bytes(b"\x89PNG" + SECRET.encode())
    root = tmp_path / "records"
    track = root / TRACK
    folder = lambda name, **kw: hand_record(track / name, **kw)  # noqa: E731
    folder("healthy")
    (folder("readme_symlink") / "README.md").unlink()
    (track / "readme_symlink" / "README.md").symlink_to(outside / "secret.txt")
    (folder("log_symlink") / "train_seed7.log").symlink_to(outside / "secret.log")
    (folder("submission_symlink") / "submission.json").unlink()
    (track / "submission_symlink" / "submission.json").symlink_to(outside / "secret.json")
    (folder("dir_symlink") / "logs").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder("fifo_log") / "train_seed9.log")
    _submission(folder("deep_submission"), DEEP)
    _submission(folder("bigint_submission"), '{"name": "x", "bytes_total": ' + HUGE + "}")
    _submission(folder("inf_submission"), '{"name": "x", "val_bpb": 1e400}')
    _submission(folder("nan_submission"), '{"name": "x", "val_bpb": NaN}')
    _submission(folder("infinity_submission"), '{"name": "x", "val_loss": -Infinity}')
    _submission(folder("seedkey_submission"), json.dumps({"name": "x", f"seed_{HUGE}": {"val_bpb": 1.2}}))
    log = folder("bigint_log") / "train_seed1337.log"
    log.write_text(log.read_text() + f"seed:{HUGE}\nSerialized model int6+zstd: {HUGE} bytes\n"
                   f"final_int6_sliding_window val_loss:2.0 val_bpb:{HUGE}.5 stride:64\n", encoding="utf-8")
    log = folder("every_step") / "train_seed42.log"
    steps = "".join(f"step:{n}/20000 train_loss:3.0 train_time:{n}ms step_avg:1.00ms\n" for n in range(2, 8002))
    log.write_text(log.read_text().replace("step:8087/20000 val_loss", steps + "step:8087/20000 val_loss"))
    (folder("huge_readme") / "README.md").write_text("# big\n" + "word " * 60_000, encoding="utf-8")
    (_loops(folder("loops_symlink")) / "loops.json").unlink()
    (track / "loops_symlink" / "loops" / "loops.json").symlink_to(outside / "secret.json")
    _loops(folder("loops_malformed"), '{"stages": 5}')
    _loops(folder("loops_bigint"), '{"model_bpb": ' + HUGE + "}")
    _loops(folder("loops_deep"), DEEP)
    (_loops(folder("png_symlink")) / "similarity.png").symlink_to(outside / "secret.png")
    only_log = track / "only_log"
    only_log.mkdir()
    (only_log / "train.log").write_text(trainer_log(5, 1.2, 100, 16_500_000), encoding="utf-8")
    (track / "linked_record").symlink_to(outside, target_is_directory=True)
    (track / "not_a_record").mkdir()
    (track / "not_a_record" / "notes.md").write_text("scratch\n", encoding="utf-8")
    manifest_track = root / "track_manifest"
    hand_record(manifest_track / "manifest_bigint")
    (manifest_track / "MANIFEST.json").write_text('[{"folder": "x", "left_out": {"a": ' + HUGE + "}}]", encoding="utf-8")
    return root, outside
