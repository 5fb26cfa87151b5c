"""`pgolf check`, `pgolf seeds` and `pgolf record` through the real entry point."""
import json

import pytest
from typer.testing import CliRunner

from pgolf import app
from tests.conftest import shared_path
from tests.evaluator.builders import SEEDS, code_file, hand_record, make_run

runner = CliRunner()


def test_check_exit_codes(tmp_path):
    ok = hand_record(tmp_path / "ok record")
    result = runner.invoke(app, ["check", str(ok)])
    assert result.exit_code == 0, result.output
    assert "Overall: PASS" in result.output and "Size <= 16,000,000 bytes" in result.output
    bad = hand_record(tmp_path / "big", model_bytes=15_999_990)
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1 and "Overall: FAIL" in result.output


@pytest.mark.parametrize("args", [["check", "/no/such/record"], ["seeds", "/no/such/record"]])
def test_bad_input_is_one_line_and_exit_2(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "not a directory" in result.output


def test_an_empty_folder_gets_a_report_that_fails_its_required_files(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1 and "[FAIL] Required files" in result.output
    assert "README.md: missing" in result.output and "train_gpt.py: missing" in result.output


def test_a_folder_of_record_folders_is_refused_with_the_all_hint(tmp_path):
    hand_record(tmp_path / "track_10min_16mb" / "a")
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "holds 1 record folder(s)" in result.output and "--all" in result.output


def test_json_and_markdown_outputs(tmp_path):
    folder = hand_record(tmp_path / "r")
    baseline = hand_record(tmp_path / "base", seeds={1: 1.30, 2: 1.3004, 3: 1.2998})
    data = json.loads(runner.invoke(app, ["check", str(folder), "--json", "--against", str(baseline)]).output)
    assert data["status"] == "PASS" and data["against"] == "base"
    assert {row["rule"] for row in data["rows"]} >= {"files", "size", "train_time", "eval_time", "claims"}
    assert data["comparison"]["decisive_unit"] == "nats_per_token"
    markdown = runner.invoke(app, ["check", str(folder), "--markdown"]).output
    assert markdown.startswith("### Compliance: `r` — **PASS**") and "| Rule | Status | Summary |" in markdown
    assert runner.invoke(app, ["check", str(folder), "--json", "--markdown"]).exit_code == 2


def test_seeds_command_on_the_micro_crawler():
    folder = shared_path("records", "track_10min_16mb", "2026-03-30_Crawler_Leg3_8xH100")
    result = runner.invoke(app, ["seeds", str(folder)])
    assert result.exit_code == 0
    for text in ("1.18720375", "1.18761637", "1.18745690", "mean 1.18742567", "9,362,069"):
        assert text in result.output
    data = json.loads(runner.invoke(app, ["seeds", str(folder), "--json"]).output)
    assert data["worst_size"]["total_bytes"] == 9_362_069


def test_record_command_writes_a_passing_record(tmp_path, monkeypatch):
    runs = [str(make_run(tmp_path, seed, bpb)) for seed, bpb in SEEDS.items()]
    code = code_file(tmp_path)
    monkeypatch.chdir(code.parent)
    out = tmp_path / "records" / "track_10min_16mb"
    args = ["record", *runs, "--name", "Crawler demo", "--author", "A", "--github-id", "a", "--blurb", "b",
            "--code", "train_gpt.py", "--out", str(out), "--date", "2026-05-02"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = out / "2026-05-02_Crawler demo"
    assert (folder / "train_gpt.py").read_text() == code.read_text()
    assert runner.invoke(app, ["check", str(folder)]).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output


def test_record_command_rejects_a_bad_date(tmp_path):
    result = runner.invoke(app, ["record", str(tmp_path), "--name", "n", "--author", "a", "--github-id", "a",
                                 "--blurb", "b", "--code", "x.py", "--date", "soon"])
    assert result.exit_code == 2 and "not a date" in result.output


def test_check_with_an_artifact(tmp_path, monkeypatch):
    import evaluator.artifacts.eval_report
    from tests.evaluator.builders import fake_evaluation
    folder = hand_record(tmp_path / "r")
    artifact = tmp_path / "final_model.ptz"
    artifact.write_bytes(b"\x00" * 16)
    seen = {}

    def evaluate(path, data_path=None, tokenizer_path=None, max_tokens=None):
        seen.update(path=path, max_tokens=max_tokens)
        return fake_evaluation(9_000_000, 1.18720375, 1.20720375)

    monkeypatch.setattr(evaluator.artifacts.eval_report, "evaluate_artifact", evaluate)
    result = runner.invoke(app, ["check", str(folder), "--artifact", str(artifact), "--max-tokens", "0"])
    assert result.exit_code == 0, result.output
    assert "[PASS] Artifact re-evaluation" in result.output and seen == {"path": artifact, "max_tokens": 0}
    assert runner.invoke(app, ["check", str(folder), "--artifact", str(tmp_path / "none.ptz")]).exit_code == 2
    assert runner.invoke(app, ["check", str(folder), "--max-tokens", "5"]).exit_code == 2
