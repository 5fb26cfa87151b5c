"""The reviewer's forensic rules (BPB denominator, data fingerprint, time ledger) on copies of real records with one
fault planted the way a faulty run would print it, and on every real folder in ../shared."""
from __future__ import annotations

import json
import math
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from evaluator.check.compliance import compliance_report
from evaluator.check.findings import Status
from evaluator.check.rules.bpb_denominator import KNOWN_BYTE_BUGS, known_bug
from evaluator.records.forensics import ScoredLine
from evaluator.records.headline import headline_metric
from evaluator.records.record import find_record_folders, load_record
from evaluator.records.stats import summarize
from tests.conftest import shared_path

CRAWLER = ("track_10min_16mb", "2026-03-30_Crawler_Leg3_8xH100")  # sp1024
CASEOPS = ("track_10min_16mb", "2026-04-19_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT")
_BPB = re.compile(r"(val_bpb[:=]\s*)(\d+\.\d+)")


def _copy(tmp_path: Path, where: tuple[str, str]) -> Path:
    target = tmp_path / where[0] / where[1]
    shutil.copytree(shared_path("records", *where), target)
    return target


def _statuses(folder: Path) -> dict[str, Status]:
    return {row.rule: row.status for row in compliance_report(load_record(folder)).rows}


def _row(folder: Path, rule: str):
    return next(row for row in compliance_report(load_record(folder)).rows if row.rule == rule)


def _logs(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix in (".log", ".txt"))


def _quantize(value: float, like: Decimal) -> Decimal:
    return Decimal(repr(value)).quantize(like)


def _dump(value) -> str:
    """JSON with every number written as it was read (Decimal keeps 0.00070's digits)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    return str(value) if isinstance(value, Decimal) else json.dumps(value)


def _plant_byte_bug(folder: Path, bytes_factor: float) -> None:
    """Rewrite the record as a run whose byte count was bytes_factor x the true one would print it: every val_bpb
    divided by the factor (val_loss, per token, is untouched), submission.json's BPB numbers recomputed from the
    rewritten logs, each to the digits it had."""
    for log in _logs(folder):
        text = log.read_text(encoding="utf-8")
        log.write_text(_BPB.sub(lambda m: f"{m.group(1)}{float(m.group(2)) / bytes_factor:.{len(m.group(2).split('.')[1])}f}",
                                text), encoding="utf-8")
    record = load_record(folder)
    values = [headline_metric(log, record.headline_kind).val_bpb for log in record.logs]
    path = folder / "submission.json"
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)

    def per_seed(node):
        if isinstance(node, dict):
            return {k: (_quantize(float(v) / bytes_factor, v) if "bpb" in k and isinstance(v, Decimal) else per_seed(v))
                    for k, v in node.items()}
        return node

    for key, value in list(data.items()):
        if "bpb" in key and isinstance(value, Decimal):
            data[key] = _quantize(summarize(values).std if "std" in key else math.fsum(values) / len(values), value)
        else:
            data[key] = per_seed(value)
    path.write_text(_dump(data), encoding="utf-8")


def test_a_scored_line_bounds_the_true_ratio_by_its_printed_digits():
    true_loss, true_bpb = 2.0724090812, 1.2273973915
    line = ScoredLine("x", round(true_loss, 4), 4, round(true_bpb, 4), 4, 1)
    low, high = line.bytes_per_token_bounds
    assert low <= true_loss / (true_bpb * math.log(2)) <= high
    exact = ScoredLine("x", round(true_loss, 8), 8, round(true_bpb, 8), 8, 1)
    assert high - low > 1000 * (exact.bytes_per_token_bounds[1] - exact.bytes_per_token_bounds[0])


def test_each_known_bug_is_named_by_its_own_ratio_and_no_other():
    for size, name in KNOWN_BYTE_BUGS:
        assert known_bug(size) == name
    assert known_bug(1.0) is None and known_bug(1.005) is None


@pytest.mark.parametrize("where, factor, issue", [
    (CRAWLER, 1.0413, "#1143"), (CRAWLER, 1.167, "#1734"), (CRAWLER, 1.25, "#897"), (CASEOPS, 1.0895, "#2138")])
def test_a_planted_byte_bug_fails_the_denominator_rule_naming_it(tmp_path, where, factor, issue):
    folder = _copy(tmp_path, where)
    before = _statuses(folder)
    _plant_byte_bug(folder, factor)
    after = _statuses(folder)
    assert before["bpb_denominator"] is Status.PASS and after["bpb_denominator"] is Status.FAIL
    assert {k: v for k, v in after.items() if k != "bpb_denominator"} == \
           {k: v for k, v in before.items() if k != "bpb_denominator"}
    evidence = [e.text for e in _row(folder, "bpb_denominator").evidence]
    assert any(issue in text and f"{factor:.4f} x the reference" in text for text in evidence), evidence


def test_the_leaky_shard_count_fails_the_data_rule(tmp_path):
    folder = _copy(tmp_path, CRAWLER)
    assert _row(folder, "data_fingerprint").status is Status.PASS
    for log in _logs(folder):
        log.write_text(log.read_text(encoding="utf-8").replace("train_shards:80", "train_shards:1499"), encoding="utf-8")
    row = _row(folder, "data_fingerprint")
    assert row.status is Status.FAIL and any("#2127" in e.text and e.line for e in row.evidence)


def test_more_train_shards_than_the_official_set_warns(tmp_path):
    folder = _copy(tmp_path, CRAWLER)
    for log in _logs(folder):
        log.write_text(log.read_text(encoding="utf-8").replace("train_shards:80", "train_shards:196"), encoding="utf-8")
    row = _row(folder, "data_fingerprint")
    assert row.status is Status.WARN and any("train_shards 196 > the official 195" in e.text for e in row.evidence)


def test_a_forced_stop_past_the_cap_fails_the_training_rule(tmp_path):
    """Rewritten as the #1956 runs: every seed runs a fixed ITERATIONS=8087 with no wallclock stop, and seed 1337's
    last step ends at 601,153 ms (one ITERATIONS for all seeds, so they stay one configuration)."""
    folder = _copy(tmp_path, CRAWLER)
    for log in _logs(folder):
        text = log.read_text(encoding="utf-8").replace("iterations:20000", "iterations:8087").replace("/20000 ", "/8087 ")
        text = text.replace("step:8087/8087 val_loss:2.0230 val_bpb:1.1982 train_time:600008ms",
                            "step:8087/8087 val_loss:2.0230 val_bpb:1.1982 train_time:601153ms")
        log.write_text("\n".join(line for line in text.split("\n") if not line.startswith("stopping_early")),
                       encoding="utf-8")
    submission = folder / "submission.json"
    data = json.loads(submission.read_text(encoding="utf-8"))
    data["seed_1337"]["train_time_s"] = 601
    submission.write_text(json.dumps(data), encoding="utf-8")
    row = _row(folder, "train_time")
    assert row.status is Status.FAIL
    assert any(e.text.startswith("seed 1337") and "#1956" in e.text and "1.153 s past the cap" in e.text and e.line
               for e in row.evidence), [e.text for e in row.evidence]


def test_calibration_on_training_data_counts_as_training(tmp_path):
    folder = _copy(tmp_path, ("track_10min_16mb", "2026-03-29_Loader_FullGPTQ_XSA11_BigramHash2816"))
    assert _row(folder, "train_time").status is Status.PASS
    for log in _logs(folder):
        text = log.read_text(encoding="utf-8")
        log.write_text(re.sub(r"(gptq:calibrated \d+ layers in )[\d.]+s", r"\g<1>30.0s", text), encoding="utf-8")
    row = _row(folder, "train_time")
    assert row.status is Status.FAIL and any("calibration on training data 30.0 s" in e.text for e in row.evidence)


def _forensic_fails(root: str) -> dict[str, list[str]]:
    """Per rule, the folders a forensic finding FAILs: the two new rules' FAILs, and the time rules' FAIL lines
    that name a forced stop (#1956) or calibration counted as training (#1868)."""
    failed: dict[str, list[str]] = {}
    for folder in find_record_folders(shared_path(root)).folders:
        for row in compliance_report(load_record(folder)).rows:
            forensic = row.rule in ("bpb_denominator", "data_fingerprint") or (row.rule == "train_time" and any(
                "#1956" in e.text or "#1868" in e.text for e in row.evidence))
            if forensic and row.status is Status.FAIL:
                failed.setdefault(row.rule, []).append(folder.name)
    return failed


def test_the_merged_records_give_no_forensic_fail():
    assert _forensic_fails("records") == {}


def test_the_pull_requests_fail_only_where_the_readme_says_why():
    # each one is read in the README ("What the logs give away"): a real finding, not a misreading
    assert _forensic_fails("prs") == {
        "bpb_denominator": ["2026-04-03_TanHop", "2026-04-23_SP4096_PPM_AdaptiveMix",
                            "2026-03-22_AutoPrecisionBudget_10L_1xH100"],
        "train_time": ["2026-03-23_11L_LeakyReLU_GPTQ_QATalign"]}


def test_the_facts_of_one_log_each_with_its_line(tmp_path):
    from evaluator.records.forensics import log_facts
    from evaluator.records.logs import parse_runs
    lines = ['    log0(f"val_bpb:enabled tokenizer_path={args.tokenizer_path}")',  # a source line: no fact
             "train_loader:dataset:fineweb10B_sp1024 train_shards:80",
             "val_loader:shards pattern=./data/datasets/fineweb10B_sp1024/fineweb_val_*.bin tokens:62021632",
             "val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=./data/tokenizers/fineweb_1024_bpe.model",
             "step:100/100 val_loss:2.0724 val_bpb:1.2274 train_time:590000ms step_avg:5900.00ms",
             "stopping_early: wallclock_cap train_time:590000ms step:100/100",
             "gptq:calibrating with 64 batches (training data)...", "gptq:calibrated 66 layers in 6.7s",
             'phase_timings:{"quantize_ms": 19500, "serialize_ms": 46250, "skipped": {}}',
             "ttt_lora:compile warmup done (156.2s)", "beginning TTT eval timer",
             "final_int8_zlib_roundtrip_exact val_loss:2.07240908 val_bpb:1.22739739 eval_time:1400ms"]
    path = tmp_path / "train_seed1.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    facts = log_facts(parse_runs(path)[0])
    assert (facts.tokenizer_file.value, facts.tokenizer_file.line) == ("fineweb_1024_bpe.model", 4)
    assert (facts.dataset.value, facts.train_shards.value, facts.val_tokens.value) == ("fineweb10B_sp1024", 80, 62021632)
    assert [(p.kind, p.seconds, p.line) for p in facts.phases] == [
        ("calibration", 6.7, 8), ("quantisation", 19.5, 9), ("serialisation", 46.25, 9), ("precomputation", 156.2, 10)]
    assert facts.calibration_source.value == "training data" and facts.eval_timer.line == 11
    assert [(s.label, s.loss_decimals, s.bpb_decimals, s.line) for s in facts.scored] == [
        ("final_int8_zlib_roundtrip_exact", 8, 8, 12)]
