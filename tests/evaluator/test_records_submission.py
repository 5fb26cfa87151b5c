import json
from datetime import date

import pytest

from evaluator.records.submission import SubmissionError, parse_date, read_submission


def _write(tmp_path, data) -> object:
    path = tmp_path / "submission.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return read_submission(path)


def test_official_core_fields(tmp_path):
    sub = _write(tmp_path, '{"author": "sam", "github_id": "samacqua", "name": "LoRA TTT", "blurb": "b",'
                           ' "date": "2026-03-19T10:00:00Z", "val_loss": 2.0142, "val_bpb": 1.1929,'
                           ' "bytes_total": 15882446, "bytes_code": 58509}')
    assert sub.missing == []
    assert sub.date == date(2026, 3, 19) and sub.date_raw == "2026-03-19T10:00:00Z"
    assert sub.val_bpb == 1.1929 and sub.numbers["val_bpb"].decimals == 4
    assert sub.bytes_total.value == 15882446 and sub.bytes_code.value == 58509


def test_seed_results_dict_mean_fields_and_aliases(tmp_path):
    sub = _write(tmp_path, """{
      "track": "10min_16mb", "date": "2026-03-19", "name": "SW", "author": "notapplica",
      "seed_results": {"1337": {"val_loss": 1.98492632, "val_bpb": 1.17558517, "steps": 10424, "ms_per_step": 57.55},
                       "42":   {"val_loss": 1.98265459, "val_bpb": 1.17423973, "steps": 10710}},
      "mean_val_loss": 1.98352149, "mean_val_bpb": 1.17475315, "p_value": 0.0001,
      "artifact_bytes": 15374243, "code_bytes": 50651}""")
    assert sub.sources["val_bpb"] == "mean_val_bpb" and sub.val_bpb == 1.17475315
    assert sub.sources["bytes_total"] == "artifact_bytes" and sub.sources["bytes_code"] == "code_bytes"
    assert sub.seeds == [1337, 42]
    assert sub.seed_claims[42].numbers["steps"].value == 10710
    assert sub.seed_claims[1337].numbers["ms_per_step"].value == 57.55
    assert sub.extra == {"p_value": 0.0001}
    assert sub.missing == ["github_id", "blurb"]


def test_seed_n_keys_and_exact_fields(tmp_path):
    sub = _write(tmp_path, """{
      "author": "Frosty40", "github_id": "newjordan", "name": "Crawler", "blurb": "Micro Crawler",
      "date": "2026-03-30T00:00:00Z",
      "seed_1337": {"val_bpb_exact": 1.18720375, "steps": 8087, "train_time_s": 600, "bytes_total": 8842981},
      "seed_42": {"val_bpb_exact": 1.18761637, "steps": 8119, "train_time_s": 600, "bytes_total": 9362069},
      "val_bpb": 1.1874, "val_bpb_exact": 1.18742567, "bytes_total": 9362069, "bytes_code": 179689,
      "hardware": "8xH100 SXM"}""")
    assert sub.seeds == [1337, 42]
    assert sub.seed_claims[42].numbers["val_bpb"].value == 1.18761637
    assert sub.seed_claims[42].bytes_total.value == 9362069
    # the most precise alias is the field; the rounded one is kept as a further claim to check
    assert sub.numbers["val_bpb"].key == "val_bpb_exact" and sub.numbers["val_bpb"].decimals == 8
    assert [(name, claim.key) for name, claim in sub.alias_claims] == [("val_bpb", "val_bpb")]
    assert sub.hardware == "8xH100 SXM" and sub.missing == ["val_loss"]


def test_artifact_bytes_mean_is_flagged_and_unknown_fields_kept(tmp_path):
    sub = _write(tmp_path, {"author": "a", "github_id": "a", "run_name": "r", "val_bpb": 1.15015359,
                            "seeds": [1337, 42, 123], "artifact_bytes_mean": 15427455, "num_layers": 11,
                            "eval_time_ms": 88, "techniques": ["SmearGate"], "date": "2026-03-20"})
    assert sub.name == "r" and sub.sources["name"] == "run_name"
    assert sub.bytes_total.value == 15427455
    assert any("artifact_bytes_mean" in w and "mean" in w for w in sub.warnings)
    assert sub.extra["num_layers"] == 11 and sub.extra["techniques"] == ["SmearGate"]
    assert set(sub.missing) == {"blurb", "val_loss", "bytes_code"}


def test_eval_time_ms_per_seed_becomes_seconds(tmp_path):
    sub = _write(tmp_path, {"seed_results": {"0": {"val_bpb": 1.07216564, "eval_time_ms": 500104,
                                                   "artifact_bytes": 15996697}}})
    claim = sub.seed_claims[0]
    assert claim.numbers["eval_time_s"].value == 500.104  # 500104 ms / 1000, correctly rounded: the literal's double
    assert claim.bytes_total.key == "seed_results.0.artifact_bytes"


@pytest.mark.parametrize("text, expected", [
    ("2026-03-19", date(2026, 3, 19)), ("2026-03-19T10:00:00Z", date(2026, 3, 19)),
    ("2026/03/19", date(2026, 3, 19)), ("19.03.2026", date(2026, 3, 19)), ("March 19, 2026", date(2026, 3, 19)),
    ("2026-03-19 10:00:00", date(2026, 3, 19)), ("20260319", date(2026, 3, 19)), ("sometime", None)])
def test_date_formats(text, expected):
    assert parse_date(text) == expected


def test_unreadable_date_is_a_warning_not_an_error(tmp_path):
    sub = _write(tmp_path, {"date": "last Tuesday", "val_bpb": 1.2})
    assert sub.date is None and sub.date_raw == "last Tuesday"
    assert any("date" in w for w in sub.warnings)


def test_seed_disagreement_and_bad_entries_warn(tmp_path):
    sub = _write(tmp_path, {"seeds": [1, 2, "x"], "seed_results": {"1": {"val_bpb": 1.1}, "3": {"val_loss": 2.0},
                                                                      "best": {"val_bpb": 1.0}}})
    assert 3 in sub.seed_claims and 1 in sub.seed_claims
    text = " ".join(sub.warnings)
    assert "'x'" in text and "best" in text and "no val_bpb for seed 3" in text and "disagree" in text


def test_claim_tolerance_follows_written_precision(tmp_path):
    sub = _write(tmp_path, '{"val_bpb": 1.1874, "val_loss": 2.00453850, "bytes_total": 9362069}')
    assert sub.numbers["val_bpb"].matches(1.18742567)
    assert not sub.numbers["val_bpb"].matches(1.18752)
    assert sub.numbers["val_loss"].decimals == 8 and not sub.numbers["val_loss"].matches(2.0045386)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_not_a_json_object_is_a_clear_error(tmp_path, text):
    with pytest.raises(SubmissionError, match="submission.json"):
        _write(tmp_path, text)
