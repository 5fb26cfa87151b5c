"""A training run of ours is read by name: the numbers of its run.json (what the trainer measured), not a reading
of its log's text; a run made before the trainer wrote one is read from its log, and a run.json that is no
RunSummary is one problem line."""
import json
import shutil

from crawler.contract import RUN_SUMMARY, RunSummary, Score
from evaluator.serving.arms import run_arms
from tests.conftest import CRAWLER_RECORD, shared_path


def _run(root, name: str, seed: int = 1337):
    run = root / name
    run.mkdir(parents=True)
    shutil.copy(shared_path("records", "track_10min_16mb", CRAWLER_RECORD) / f"train_seed{seed}.log",
                run / "train.log")
    return run


def _summary(sliding_bpb: float) -> RunSummary:
    return RunSummary("r", 7, 2, 120, 200, 61_000.0, True, Score(2.1, 1.25, 900.0),
                      {"roundtrip": Score(2.2, 1.3, 800.0), "sliding_window": Score(2.0, sliding_bpb, 4_000.0, 64)},
                      50_000, 9_000_000, 9_050_000, "rans")


def test_a_run_is_read_from_its_run_json_not_its_log(tmp_path):
    _summary(1.2345).write(_run(tmp_path, "with_summary"))
    _run(tmp_path, "log_only")
    arms, problems = run_arms([tmp_path])
    assert problems == []
    by_name = {arm.label: arm for arm in arms}
    (row,) = by_name["with_summary"].rows
    assert (row.seed, row.headline_kind, row.headline_bpb, row.val_loss) == (7, "sliding_window", 1.2345, 2.0)
    assert row.bpb_by_kind == {"pre_quant": 1.25, "roundtrip": 1.3, "sliding_window": 1.2345}
    assert (row.steps, row.train_time_s, row.eval_time_s, row.world_size) == (120, 61.0, 4.0, 2)
    assert (row.code_bytes, row.model_bytes, row.total_bytes) == (50_000, 9_000_000, 9_050_000)
    (logged,) = by_name["log_only"].rows  # the same log, read as text: the record's own seed 1337 numbers
    assert logged.seed == 1337 and logged.headline_bpb != 1.2345 and logged.headline_kind == "sliding_window"


def test_a_run_json_that_is_no_run_summary_is_one_problem_line(tmp_path):
    run = _run(tmp_path, "bad")
    (run / RUN_SUMMARY).write_text(json.dumps({"run_id": "r", "seed": "seven"}))
    arms, problems = run_arms([tmp_path])
    assert len(problems) == 1 and problems[0].startswith(f"run bad: {RUN_SUMMARY} unreadable (not a {RUN_SUMMARY} of")
    assert arms[0].rows[0].seed == 1337  # read from its log instead
