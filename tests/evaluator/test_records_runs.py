"""Records as they really are (issue 13): which runs are the submission, logs in other shapes and places, and the
checker and seed table agreeing on every real record. Each pattern is a synthetic folder reproducing what real
folders do, or a real folder from ../shared/records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crawler.contract import MetricKind
from evaluator.check.compliance import compliance_report
from evaluator.check.findings import Status
from evaluator.records.record import load_record, scan_records
from pgolf import app
from tests.conftest import shared_path
from tests.evaluator.builders import CODE, SEEDS, hand_record, trainer_log

runner = CliRunner()
OTHER_CODE = CODE.replace("crawl", "crawl differently")


def _rows(folder: Path) -> dict:
    report = compliance_report(load_record(folder))
    return {row.rule: row for row in report.rows} | {"table": report.seed_table}


def _submission(folder: Path, **fields) -> None:
    data = json.loads((folder / "submission.json").read_text())
    (folder / "submission.json").write_text(json.dumps(data | fields), encoding="utf-8")


def _reruns(folder: Path) -> Path:
    """Each seed run twice: `*_original.log` and a `*_rerun.log` 0.001 lower, as a real folder keeps them."""
    hand_record(folder)
    for seed, bpb in SEEDS.items():
        (folder / f"train_seed{seed}.log").rename(folder / f"seed{seed}_rerun.log")
        (folder / f"seed{seed}_original.log").write_text(trainer_log(seed, bpb + 0.001, len(CODE), 9_000_000))
    return folder


def test_an_original_and_a_rerun_of_each_seed_are_one_run_per_seed_chosen_by_the_claims(tmp_path):
    folder = _reruns(tmp_path / "reruns")
    _submission(folder, seed_results={str(seed): {"val_bpb": bpb} for seed, bpb in SEEDS.items()})
    rows = _rows(folder)
    assert [row.log for row in rows["table"].rows] == ["seed1337_rerun.log", "seed42_rerun.log", "seed300_rerun.log"]
    assert rows["table"].bpb.n == 3 and rows["table"].bpb.mean == pytest.approx(1.18742567, abs=5e-9)  # 8 decimals: half a unit
    assert rows["seeds"].status is Status.PASS and rows["claims"].status is Status.PASS
    assert "not counted: seed1337_original.log: seed 1337 has 2 runs; seed1337_rerun.log reproduces the claimed " \
           "val_bpb" in [e.text for e in rows["seeds"].evidence]


def test_without_claims_that_decide_the_last_run_of_a_seed_is_taken_and_the_choice_warns(tmp_path):
    folder = _reruns(tmp_path / "reruns")
    rows = _rows(folder)
    assert [row.log for row in rows["table"].rows] == ["seed1337_rerun.log", "seed42_rerun.log", "seed300_rerun.log"]
    assert rows["seeds"].status is Status.WARN
    assert "ambiguous: seed 42 has 2 runs; the last, seed42_rerun.log, is taken; the other reading is " \
           "seed42_original.log" in [e.text for e in rows["seeds"].evidence]


SMALLER_MODEL = ("model_params:14462508", "model_params:9000000")
SHORTER_SEQUENCES = ("train_seq_len:2048", "train_seq_len:1024")
RUN = "steps 8087, train s 598"
SUBMITTED = f"params 14462508, tokenizer tokenizer.model, seq_len 2048, iterations 20000, wallclock 600, {RUN}"
OTHER = {SMALLER_MODEL: f"params 9000000, tokenizer tokenizer.model, seq_len 2048, iterations 20000, wallclock 600, {RUN}",
         SHORTER_SEQUENCES: f"params 14462508, tokenizer tokenizer.model, seq_len 1024, iterations 20000, wallclock 600, {RUN}"}


def _study(folder: Path, change: tuple[str, str]) -> Path:
    """Three seeds of the submitted configuration and two runs of another, as a study keeps its experiments."""
    hand_record(folder)
    for seed in (1, 2):
        log = trainer_log(seed, 1.30, len(CODE), 7_000_000).replace(*change)
        (folder / f"experiment_seed{seed}.log").write_text(log, encoding="utf-8")
    return folder


@pytest.mark.parametrize("change", [SMALLER_MODEL, SHORTER_SEQUENCES])
def test_a_study_is_not_averaged_across_its_configurations(tmp_path, change):
    rows = _rows(_study(tmp_path / "study", change))
    assert rows["table"].bpb.n == 3 and rows["table"].bpb.mean == pytest.approx(1.18742567, abs=5e-9)  # 8 decimals: half a unit
    assert rows["claims"].status is Status.PASS
    assert (f"not counted: experiment_seed1.log: another configuration ({OTHER[change]}) than the submitted one, "
            "which reproduces submission.json's claims") in [e.text for e in rows["seeds"].evidence]


def test_a_study_the_claims_cannot_place_warns_with_both_readings(tmp_path):
    folder = _study(tmp_path / "study", SMALLER_MODEL)
    _submission(folder, val_bpb=1.25)
    seeds = _rows(folder)["seeds"]
    assert seeds.status is Status.WARN
    assert (f"ambiguous: the logs train 2 configurations; taken: 3 run(s) with {SUBMITTED}; the other reading(s): "
            f"2 run(s) with {OTHER[SMALLER_MODEL]}") in [e.text for e in seeds.evidence]


def test_a_log_holding_three_runs_is_hashed_from_the_run_whose_metrics_count(tmp_path):
    folder = hand_record(tmp_path / "three", seeds={1337: 1.1872})
    runs = [trainer_log(1337, 1.30, len(OTHER_CODE), 9_000_000, source=OTHER_CODE),
            trainer_log(1337, 1.25, len(OTHER_CODE), 9_000_000, source=OTHER_CODE),
            trainer_log(1337, 1.1872, len(CODE), 9_000_000, source=CODE)]
    (folder / "train_seed1337.log").unlink()
    (folder / "train.log").write_text("".join(runs), encoding="utf-8")
    record = load_record(folder)
    assert [(log.first_line, log.runs_in_file) for log in record.logs] == [(2 * len(runs[0].split("\n")) - 1, 3)]
    rows = _rows(folder)
    assert rows["table"].rows[0].headline_bpb == 1.1872  # read from the log's text
    assert rows["source"].status is Status.PASS and rows["claims"].status is Status.PASS
    assert rows["source"].evidence[0].line == record.logs[0].source.first_line == record.logs[0].first_line == 65


def test_log_lines_prefixed_by_a_unix_timestamp_are_read(tmp_path):
    folder = hand_record(tmp_path / "stamped")
    for log in folder.glob("train_seed*.log"):
        log.write_text("".join(f"1776143349.{i:03d} {line}\n" for i, line in enumerate(log.read_text().splitlines())))
    rows = _rows(folder)
    assert rows["files"].status is Status.PASS and rows["size"].status is Status.PASS
    assert rows["table"].bpb.mean == pytest.approx(1.18742567, abs=5e-9)  # 8 decimals: half a unit
    assert all(row.train_time_s == 598.0 for row in rows["table"].rows)


def test_txt_logs_named_anything_are_read(tmp_path):
    folder = hand_record(tmp_path / "named")
    for seed in SEEDS:
        (folder / f"train_seed{seed}.log").rename(folder / f"v_{seed}.txt")
    (folder / "requirements.txt").write_text("torch\n")
    record = load_record(folder)
    assert sorted(log.file_name for log in record.logs) == ["v_1337.txt", "v_300.txt", "v_42.txt"]
    assert record.ignored_logs == []


def test_the_logs_a_readme_names_in_a_subfolder_are_the_submission(tmp_path):
    folder = hand_record(tmp_path / "sub", submission={"val_bpb": 1.5})
    (folder / "ttt_final").mkdir()
    for seed, bpb in SEEDS.items():
        (folder / f"ttt_final/seed_{seed}.log").write_text(trainer_log(seed, bpb - 0.01, len(CODE), 9_000_000))
    (folder / "README.md").write_text("# demo\nThe submitted runs are in `ttt_final/`; the top level keeps earlier ones.\n")
    record = load_record(folder)
    assert sorted(log.file_name for log in record.logs) == ["ttt_final/seed_1337.log", "ttt_final/seed_300.log",
                                                            "ttt_final/seed_42.log"]
    assert {aside.reason for aside in record.set_aside} == {"the runs in ttt_final/ are the ones the README names"}
    _submission(folder, val_bpb=round(sum(SEEDS.values()) / 3, 8))  # now the claims point at the top level
    assert sorted(log.file_name for log in load_record(folder).logs) == sorted(f"train_seed{s}.log" for s in SEEDS)


def test_a_model_and_total_on_one_piped_line_are_read(tmp_path):
    folder = hand_record(tmp_path / "piped", seeds={1: 1.2})
    log = folder / "train_seed1.log"
    text = "".join(line + "\n" for line in log.read_text().splitlines()
                   if not line.startswith(("Serialized model int6", "Total submission size")))
    log.write_text(text + f"INT7+zlib model: 15999900 bytes | Total submission: {15_999_900 + len(CODE)} bytes\n")
    size = _rows(folder)["size"]
    assert size.status is Status.FAIL  # 15,999,900 + the code is over the cap
    assert size.evidence[0].text.startswith(f"seed 1: as logged {15_999_900 + len(CODE):,} = code")
    assert "model 15,999,900 (INT7+zlib" in size.evidence[0].text


def test_a_run_scored_only_by_periodic_validation_has_its_bpb_in_seeds_and_check(tmp_path):
    folder = hand_record(tmp_path / "periodic", seeds={1: 1.2})
    log = folder / "train_seed1.log"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()
                           if " val_bpb:" not in line or line.startswith("step:")))
    rows = _rows(folder)
    row = rows["table"].rows[0]
    assert row.headline_kind == "pre_quant" and row.headline_bpb == 1.1982 and row.total_bytes is not None
    seeds = json.loads(runner.invoke(app, ["seeds", str(folder), "--json"]).output)
    assert seeds["rows"][0]["headline_bpb"] == 1.1982


def test_a_plain_script_that_mentions_lzma_is_no_wrapper_and_cpp_helpers_count(tmp_path):
    folder = hand_record(tmp_path / "plain")
    mention = "import lzma, base64\n# exec(lzma.decompress(base64.b85decode(blob))) was tried and dropped\n"
    (folder / "train_gpt.py").write_text(mention + CODE * 500)
    (folder / "kernels").mkdir()
    (folder / "kernels" / "fused.cpp").write_text("// a kernel\nint main() { return 0; }\n")
    record = load_record(folder)
    assert record.code.wrapper is None
    assert [f.path for f in record.code.helpers] == ["kernels/fused.cpp"] and record.code.helper_bytes == 37


def test_check_and_seeds_agree_on_every_shared_record():
    root = shared_path("records")
    for record in scan_records(root):
        folder = record.path
        seeds = json.loads(runner.invoke(app, ["seeds", folder, "--json"]).output)
        check = json.loads(runner.invoke(app, ["check", folder, "--json"]).output)
        warnings = seeds.pop("reader_warnings")
        assert seeds == check["seed_table"] and warnings == check["reader_warnings"], record.name
        sized = [row for row in seeds["rows"] if row["total_bytes"] is not None]
        assert all(row["headline_bpb"] is not None for row in sized), record.name


def test_against_compares_the_submitted_runs_only(tmp_path):
    candidate = load_record(_reruns(tmp_path / "reruns"))
    baseline = load_record(hand_record(tmp_path / "base", seeds={1: 1.30, 2: 1.3004, 3: 1.2998}))
    comparison = compliance_report(candidate, baseline).comparison
    assert comparison.units["bpb"].candidate.n == 3
    assert comparison.units["bpb"].candidate.mean == pytest.approx(1.18742567, abs=5e-9)  # 8 decimals: half a unit


def test_the_configuration_reproducing_the_per_seed_claims_wins_when_both_ran_the_same_seeds(tmp_path):
    folder = hand_record(tmp_path / "same_seeds")
    _submission(folder, seed_results={str(seed): {"val_bpb": bpb} for seed, bpb in SEEDS.items()})
    for seed in SEEDS:
        log = trainer_log(seed, 1.30, len(CODE), 7_000_000).replace(*SHORTER_SEQUENCES)
        (folder / f"seq1024_seed{seed}.log").write_text(log, encoding="utf-8")
    record = load_record(folder)
    assert sorted(log.file_name for log in record.logs) == sorted(f"train_seed{seed}.log" for seed in SEEDS)
    assert record.ambiguities == [] and len(record.set_aside) == 3


def test_evaluation_logs_in_a_subfolder_join_their_training_runs_by_seed(tmp_path):
    folder = hand_record(tmp_path / "ttt_later")
    (folder / "ttt").mkdir()
    for seed, bpb in SEEDS.items():
        (folder / "ttt" / f"eval_seed{seed}.log").write_text(
            f"seed:{seed}\nquantized_ttt val_loss:1.9 val_bpb:{bpb - 0.01:.8f} eval_time:300000ms\n", encoding="utf-8")
    _submission(folder, val_bpb=round(sum(SEEDS.values()) / 3 - 0.01, 8), val_loss=1.9)
    rows = _rows(folder)
    table = rows["table"]
    assert table.headline_kind == "ttt" and [row.log for row in table.rows] == [f"train_seed{s}.log" for s in SEEDS]
    assert all(row.steps == 8087 and row.total_bytes for row in table.rows)
    assert rows["claims"].status is Status.PASS
    assert "evaluation ttt/eval_seed42.log joined to train_seed42.log by seed 42" in table.notes
    claim_row = next(e for e in rows["claims"].evidence if e.text.startswith("val_bpb"))
    assert claim_row.file == "ttt/eval_seed1337.log" and claim_row.line == 2


def test_an_evaluation_log_without_a_seed_joins_the_training_log_of_its_name(tmp_path):
    folder = hand_record(tmp_path / "named", seeds={7: 1.2})
    (folder / "train_seed7.log").rename(folder / "v3_train.log")
    (folder / "v3_lora_ttt.log").write_text("lora_ttt_rerun val_loss:1.9 val_bpb:1.10000000\n", encoding="utf-8")
    record = load_record(folder)
    assert [log.file_name for log in record.logs] == ["v3_train.log"] and record.logs[0].seed == 7
    assert [join.by for join in record.joined] == ["file name"]
    assert record.logs[0].final(MetricKind.TTT).val_bpb == 1.1 and record.logs[0].final(MetricKind.TTT).file == "v3_lora_ttt.log"


def _bare(log: str) -> str:
    """A log without the settings lines: only steps, times and scores tell its runs apart."""
    return "\n".join(line for line in log.splitlines() if not line.startswith(("model_params", "train_batch", "tokenizer")))


@pytest.mark.parametrize("steps, train_ms", [(10, 1_500), (100_000, 598_000 * 12)])
def test_runs_of_another_step_count_or_training_time_class_are_not_seeds_of_the_submission(tmp_path, steps, train_ms):
    folder = hand_record(tmp_path / "trials")
    for seed, bpb in SEEDS.items():
        path = folder / f"train_seed{seed}.log"
        path.write_text(_bare(path.read_text()), encoding="utf-8")
    trial = trainer_log(7, 2.5, len(CODE), 9_000_000, train_ms=train_ms).replace("8087/20000", f"{steps}/20000")
    (folder / "trial_seed7.log").write_text(_bare(trial), encoding="utf-8")
    rows = _rows(folder)
    assert rows["table"].bpb.n == 3 and rows["claims"].status is Status.PASS
    assert any(e.text.startswith("not counted: trial_seed7.log: another configuration (") and f"steps {steps}" in e.text
               for e in rows["seeds"].evidence)


def test_logs_named_for_three_seeds_that_all_print_one_warn(tmp_path):
    folder = hand_record(tmp_path / "one_seed", seeds={1: 1.2, 2: 1.21, 3: 1.22})
    for seed in (1, 2, 3):
        path = folder / f"train_seed{seed}.log"
        path.write_text(path.read_text().replace(f"seed:{seed}\n", "seed:1337\n"), encoding="utf-8")
    seeds = _rows(folder)["seeds"]
    assert seeds.status is Status.WARN
    assert ("logs named for seeds [1, 2, 3] (train_seed1.log, train_seed2.log, train_seed3.log) print seed(s) [1337]: "
            "the runs are not the seeds their names say") in [e.text for e in seeds.evidence]


def test_repeats_of_one_seed_whose_mean_is_the_claim_are_all_counted_and_the_choice_warns(tmp_path):
    folder = hand_record(tmp_path / "repeats", seeds={1337: 1.2})
    (folder / "train_seed1337.log").rename(folder / "run_001.txt")
    for n, bpb in ((2, 1.21), (3, 1.23)):
        (folder / f"run_00{n}.txt").write_text(trainer_log(1337, bpb, len(CODE), 9_000_000), encoding="utf-8")
    losses = [round(bpb * 1.6884, 8) for bpb in (1.2, 1.21, 1.23)]
    _submission(folder, val_bpb=1.21333333, val_loss=round(sum(losses) / 3, 8))
    rows = _rows(folder)
    assert rows["table"].bpb.n == 3 and rows["table"].bpb.mean == pytest.approx(1.21333333, abs=5e-9)
    assert rows["claims"].status is Status.PASS and rows["seeds"].status is Status.WARN
    assert ("ambiguous: 3 runs of 1 seed(s): submission.json's val_bpb is the mean over all of them, so each is "
            "counted, though a repeated seed is no independent seed") in [e.text for e in rows["seeds"].evidence]


def test_a_free_form_final_score_is_the_headline_with_a_warn_that_names_its_line(tmp_path):
    folder = hand_record(tmp_path / "free_form", seeds={7: 1.2})
    log = folder / "train_seed7.log"
    lines = [line for line in log.read_text().splitlines() if "val_bpb" not in line or line.startswith("step:")]
    log.write_text("\n".join(lines + ["🏁 Final BPB: 1.1070"]) + "\n", encoding="utf-8")
    _submission(folder, val_bpb=1.107, val_loss=None)
    rows = _rows(folder)
    assert rows["table"].bpb.mean == 1.107 and rows["claims"].status is Status.WARN
    line = len(lines) + 1
    assert any(e.status is Status.PASS and e.text.startswith("val_bpb = 1.107 matches") for e in rows["claims"].evidence)
    assert any(e.status is Status.WARN and "read loosely from the free-form line '🏁 Final BPB: 1.1070'" in e.text
               and (e.file, e.line) == ("train_seed7.log", line) for e in rows["claims"].evidence)
    assert f"seed 7 (train_seed7.log): the score at train_seed7.log:{line} is read loosely from the free-form line " \
           "'🏁 Final BPB: 1.1070'" in rows["table"].notes
