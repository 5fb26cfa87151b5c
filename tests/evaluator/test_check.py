"""The compliance rules on synthetic records, and `record` output passing them."""
import json
from pathlib import Path

import pytest

from crawler.contract import MetricKind
from evaluator.check.compliance import compliance_report
from evaluator.check.findings import Status
from evaluator.records.record import load_record
from evaluator.records.writer import CodeFileSpec, RecordWriteError, write_record
from tests.evaluator.builders import CODE, META, code_file, fake_evaluation, hand_record, make_run, written_record


def rows(folder: Path, against: Path | None = None) -> dict:
    report = compliance_report(load_record(folder), load_record(against) if against else None)
    return {row.rule: row for row in report.rows} | {"overall": report.status}


def test_the_checker_passes_what_record_writes(tmp_path):
    folder = written_record(tmp_path)
    assert folder.name == "2026-05-01_Micro Crawler demo"  # a folder name with spaces
    result = rows(folder)
    assert result["overall"] is Status.PASS, {k: (v.status, v.summary) for k, v in result.items() if k != "overall"}
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "submission.json", "train_gpt.py",
                                                        "train_seed1337.log", "train_seed300.log", "train_seed42.log"]


def test_record_writes_the_official_fields(tmp_path):
    folder = written_record(tmp_path)
    data = json.loads((folder / "submission.json").read_text())
    for key in ("author", "github_id", "name", "blurb", "date", "val_bpb", "val_loss", "bytes_total", "bytes_code"):
        assert key in data
    assert data["val_bpb"] == 1.18742567 and data["bytes_total"] == len(CODE) + 9_000_000
    assert data["seeds"] == [1337, 42, 300] and data["metric_kind"] == "sliding_window"
    assert data["seed_results"]["42"]["val_bpb"] == 1.18761637 and data["seed_results"]["42"]["steps"] == 8087
    readme = (folder / "README.md").read_text()
    assert "1.18742567" in readme and "SEED=300 torchrun --standalone --nproc_per_node=8 train_gpt.py" in readme
    assert "4 flat + 1 crawler x 3." in readme and "Parameters: 14,462,508" in readme


def test_record_refuses_inconsistent_inputs(tmp_path):
    runs = [make_run(tmp_path, 1, 1.2), make_run(tmp_path, 2, 1.21)]
    out = tmp_path / "records"
    with pytest.raises(RecordWriteError, match="counted"):
        wrong = tmp_path / "train_gpt.py"
        wrong.write_text(CODE + "# edited after the run\n", encoding="utf-8")
        write_record(runs, out, META, [CodeFileSpec(wrong, "train_gpt.py")])
    with pytest.raises(RecordWriteError, match="must be train_gpt.py"):
        write_record(runs, out, META, [CodeFileSpec(code_file(tmp_path), "main.py")])
    (runs[0] / "final_model.ptz").write_bytes(b"\x00" * 10)
    with pytest.raises(RecordWriteError, match="says the model is"):
        write_record(runs, out, META, [CodeFileSpec(code_file(tmp_path), "train_gpt.py")])
    assert not out.exists()


def test_hand_record_passes_then_each_break_fails(tmp_path):
    assert rows(hand_record(tmp_path / "ok"))["overall"] is Status.PASS


def test_over_size_fails(tmp_path):
    result = rows(hand_record(tmp_path / "big", model_bytes=15_999_990))
    assert result["size"].status is Status.FAIL
    assert "exceeds 16,000,000" in result["size"].summary


def test_missing_file_fails(tmp_path):
    folder = hand_record(tmp_path / "nofile")
    (folder / "train_gpt.py").unlink()
    result = rows(folder)
    assert result["files"].status is Status.FAIL and result["overall"] is Status.FAIL
    assert any(e.text == "train_gpt.py: missing" for e in result["files"].evidence)
    # the absent script is the files rule's fault; the size rule judges on the logs and says why it can do no more
    assert result["size"].status is Status.PASS
    assert result["size"].summary.endswith("code size unknown: train_gpt.py absent")


def test_training_over_600_seconds_fails(tmp_path):
    result = rows(hand_record(tmp_path / "slow", train_ms=650_000))
    assert result["train_time"].status is Status.FAIL
    assert "650.0" in result["train_time"].summary


def test_small_cap_overshoot_passes_and_forced_steps_warn(tmp_path):
    assert rows(hand_record(tmp_path / "cap", train_ms=600_070))["train_time"].status is Status.PASS
    forced = hand_record(tmp_path / "forced", stop=False)
    for log in forced.glob("*.log"):  # the run reaches ITERATIONS instead of the cap
        log.write_text(log.read_text().replace("step:8087/20000", "step:20000/20000"))
    result = rows(forced)
    assert result["train_time"].status is Status.WARN
    assert any("forced step count" in e.text for e in result["train_time"].evidence)


def test_evaluation_over_600_seconds_fails(tmp_path):
    assert rows(hand_record(tmp_path / "evalslow", eval_ms=700_000))["eval_time"].status is Status.FAIL


def test_submission_contradicting_the_logs_fails(tmp_path):
    result = rows(hand_record(tmp_path / "claims", submission={"val_bpb": 1.10}))
    assert result["claims"].status is Status.FAIL
    assert any("val_bpb = 1.1 but" in e.text for e in result["claims"].evidence)
    sizes = rows(hand_record(tmp_path / "bytes", submission={"bytes_code": 999}))
    assert sizes["size_claims"].status is Status.FAIL


def test_one_seed_value_is_read_as_the_submitted_run_with_the_mean_beside_it(tmp_path):
    folder = hand_record(tmp_path / "oneseed", submission={"val_bpb": 1.18720375})
    report = compliance_report(load_record(folder))
    claims = next(row for row in report.rows if row.rule == "claims")
    assert claims.status is Status.WARN
    table = report.seed_table
    assert table.submitted.seed == 1337 and table.headline_bpb == 1.18720375 != table.bpb.mean
    assert any("is seed 1337 (train_seed1337.log)'s sliding_window BPB 1.18720375, read as the submitted run; the "
               f"other reading, the mean over 3 log(s), is {table.bpb.mean:.8f}" in e.text for e in claims.evidence)
    assert "submitted run: seed 1337 (train_seed1337.log) at 1.18720375" in table.summary_line()


def test_a_claim_two_seeds_print_is_not_one_submitted_run(tmp_path):
    folder = hand_record(tmp_path / "tie", seeds={1: 1.2, 2: 1.2, 3: 1.4}, submission={"val_bpb": 1.2})
    report = compliance_report(load_record(folder))
    assert report.seed_table.submitted is None and report.seed_table.headline_bpb == report.seed_table.bpb.mean
    claims = next(row for row in report.rows if row.rule == "claims")
    assert claims.status is Status.WARN
    assert any("val_bpb = 1.2 but the mean sliding_window BPB over 3 log(s) is 1.26666667; it matches" in e.text
               for e in claims.evidence)


def test_a_run_scored_at_two_strides_is_read_at_the_stride_every_run_prints(tmp_path):
    folder = hand_record(tmp_path / "strides")
    log = folder / "train_seed42.log"
    log.write_text(log.read_text() + "final_int6_sliding_window_s16 val_loss:1.9000 val_bpb:1.1000 stride:16 "
                   "eval_time:9000ms\nfinal_int6_sliding_window_s16_exact val_loss:1.90000000 val_bpb:1.10000000\n")
    record = load_record(folder)
    assert [log.final(MetricKind.SLIDING_WINDOW).stride for log in record.logs] == [64, 64, 64]
    assert any("seed 42 (train_seed42.log) also prints sliding-window scores at stride 16; read at stride 64" in text
               for text in record.ambiguities)
    assert rows(folder)["claims"].status is Status.PASS


def test_fewer_than_three_seeds_warn(tmp_path):
    result = rows(hand_record(tmp_path / "two", seeds={1: 1.2, 2: 1.21}))
    assert result["seeds"].status is Status.WARN


def test_significance_against_a_baseline(tmp_path):
    baseline = hand_record(tmp_path / "base", seeds={1: 1.2200, 2: 1.2204, 3: 1.2198})
    better = hand_record(tmp_path / "better", seeds={1: 1.1870, 2: 1.1874, 3: 1.1872})
    slightly = hand_record(tmp_path / "slightly", seeds={1: 1.2196, 2: 1.2199, 3: 1.2197})
    worse = hand_record(tmp_path / "worse", seeds={1: 1.2300, 2: 1.2304, 3: 1.2302})
    assert rows(better, baseline)["significance"].status is Status.PASS
    assert rows(slightly, baseline)["significance"].status is Status.WARN
    assert rows(worse, baseline)["significance"].status is Status.FAIL
    assert rows(better)["significance"].status is Status.SKIP
    evidence = " ".join(e.text for e in rows(better, baseline)["significance"].evidence)
    assert "nats/token" in evidence and "nats/byte" in evidence and "p=" in evidence


def test_embedded_source_hash(tmp_path):
    same = hand_record(tmp_path / "same", source=CODE.rstrip("\n"))
    (same / "train_gpt.py").write_text(CODE.rstrip("\n"), encoding="utf-8")
    assert rows(same)["source"].status is Status.PASS
    other = hand_record(tmp_path / "other", source="import sys\nimport os\nfrom x import y\ndef f():\n    pass")
    assert rows(other)["source"].status is Status.FAIL
    assert rows(hand_record(tmp_path / "none"))["source"].status is Status.SKIP


def test_size_accountings_show_helpers_and_wrapper(tmp_path):
    import base64
    import lzma
    folder = hand_record(tmp_path / "wrapped")
    blob = base64.b85encode(lzma.compress(CODE.encode())).decode()
    (folder / "train_gpt.py").write_text(f"import lzma,base64\nexec(lzma.decompress(base64.b85decode('{blob}')))\n")
    (folder / "helper.py").write_text("x = 1\n" * 10)
    result = rows(folder)
    text = " ".join(e.text for e in result["size"].evidence)
    assert "lzma+base85 wrapper" in text and f"unwraps to {len(CODE)}" in text and "helper.py" in text


def test_size_warning_names_the_accounting_over_the_cap(tmp_path):
    folder = hand_record(tmp_path / "helpers", model_bytes=15_999_000)
    (folder / "helper.py").write_text("x = 1\n" * 200)
    result = rows(folder)
    assert result["size"].status is Status.WARN
    assert result["size"].summary.endswith("fits; over the cap counting train_gpt.py + helpers (helper.py)")


def test_artifact_rule(tmp_path):
    record = load_record(hand_record(tmp_path / "art"))

    def check_artifact(record, evaluation):
        return next(row for row in compliance_report(record, artifact_report=evaluation).rows if row.rule == "artifact")

    same = check_artifact(record, fake_evaluation(9_000_000, 1.18720380, 1.20720375))
    assert same.status is Status.PASS and "seed 1337" in same.evidence[1].text
    off = check_artifact(record, fake_evaluation(9_000_000, 1.19, 1.20720375))
    assert off.status is Status.FAIL
    prefix = check_artifact(record, fake_evaluation(9_000_000, 1.31, 1.33, full=False))
    assert prefix.status is Status.WARN and any("prefix only" in e.text for e in prefix.evidence)
    stranger = check_artifact(record, fake_evaluation(16_500_000, 1.1874, 1.2074))
    assert stranger.status is Status.FAIL and any("matches no seed" in e.text for e in stranger.evidence)
    assert rows(tmp_path / "art")["artifact"].status is Status.SKIP


def test_the_rules_are_the_modules_of_the_rules_package_in_report_order():
    from evaluator.check.compliance import RULES
    assert [module.RULE.id for module in RULES] == ["files", "size", "size_claims", "train_time", "eval_time", "seeds",
                                                     "significance", "significance_practice", "claims", "source", "bpb_denominator",
                                                     "data_fingerprint", "artifact"]


def test_a_precise_claim_one_unit_off_in_its_last_decimal_warns_not_fails(tmp_path):
    # the seeds' mean is 1.18742567: 1.18742 is 0.57 units of its last decimal off, 1.18743 would round to it
    result = rows(hand_record(tmp_path / "rounded", submission={"val_bpb": 1.18742}))
    assert result["claims"].status is Status.WARN
    assert any("val_bpb = 1.18742 is the mean sliding_window BPB over 3 log(s) 1.18742567 to within one unit" in e.text
               for e in result["claims"].evidence)
    coarse = rows(hand_record(tmp_path / "coarse", submission={"val_bpb": 1.18}))
    assert coarse["claims"].status is Status.FAIL  # one unit at 2 decimals (0.0074 off) is more than rounding


def test_a_pre_quant_claim_that_is_one_seeds_value_warns(tmp_path):
    folder = hand_record(tmp_path / "prequant", submission={"pre_quant_val_bpb": 1.1990})
    log = folder / "train_seed42.log"
    log.write_text(log.read_text().replace("post_average val_loss:2.0230 val_bpb:1.1982",
                                           "post_average val_loss:2.0240 val_bpb:1.1990"), encoding="utf-8")
    claims = rows(folder)["claims"]
    assert claims.status is Status.WARN
    assert any("pre_quant_val_bpb = 1.199 but the mean pre-quant BPB is 1.19846667; it matches "
               "seed 42 (train_seed42.log)'s pre-quant value instead" in e.text for e in claims.evidence)
