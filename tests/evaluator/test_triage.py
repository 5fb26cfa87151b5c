"""`pgolf check ROOT --all` and the reader on ../shared/prs: pull requests exactly as their authors left them."""
import csv
import io
import json

import pytest
from typer.testing import CliRunner

from evaluator.check.compliance import compliance_report
from evaluator.check.findings import Status
from evaluator.check.triage import ERROR, ClaimVerdict, triage, triage_row
from evaluator.records.printed import printed_claim
from evaluator.records.record import find_record_folders, load_record
from pgolf import app
from tests.conftest import shared_path
from tests.evaluator.builders import CODE, hand_record

runner = CliRunner()
TRACK = "track_10min_16mb"
# measured with benchmarks/prs_reading.py; a floor, so that a change that loses folders shows
AGREE_FLOOR = 0.85


def _root(tmp_path):
    root = tmp_path / "prs"
    hand_record(root / "pr1" / TRACK / "good")
    hand_record(root / "pr2" / TRACK / "overclaims", submission={"val_bpb": 1.1})
    code_only = root / "pr3" / TRACK / "code_only"
    code_only.mkdir(parents=True)
    (code_only / "train_gpt.py").write_text(CODE, encoding="utf-8")
    return root


def test_all_writes_one_row_per_folder_as_a_table_csv_and_json_lines(tmp_path):
    root = _root(tmp_path)
    result = runner.invoke(app, ["check", str(root), "--all", "--csv", str(tmp_path / "t.csv"),
                                 "--jsonl", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 1, result.output  # two folders FAIL
    assert "3 record folder(s)" in result.output and "pr3/track_10min_16mb/code_only" in result.output
    rows = {row["folder"].split("/")[-1]: row for row in csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text()))}
    assert rows["good"]["status"] == "PASS" and rows["good"]["claim"] == "agrees" and rows["good"]["seeds"] == "1337 42 300"
    assert rows["overclaims"]["status"] == "FAIL" and rows["overclaims"]["claim"] == "flagged"
    assert rows["overclaims"]["failing"] == "claims"
    assert rows["code_only"]["failing"] == "files" and rows["code_only"]["claim"] == "no claim"
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [line["folder"] for line in lines] == sorted(row["folder"] for row in rows.values())
    assert lines[0]["headline_bpb"] == pytest.approx(sum([1.18720375, 1.18761637, 1.18745690]) / 3, abs=1e-12)


def test_all_refuses_options_of_a_single_check_and_csv_needs_all(tmp_path):
    root = _root(tmp_path)
    assert runner.invoke(app, ["check", str(root), "--all", "--markdown"]).exit_code == 2
    single = runner.invoke(app, ["check", str(root / "pr1" / TRACK / "good"), "--csv", str(tmp_path / "x.csv")])
    assert single.exit_code == 2 and "--csv and --jsonl go with --all" in single.output
    assert not (tmp_path / "x.csv").exists()


def test_a_folder_whose_reading_raises_is_an_error_row_and_the_others_go_on(tmp_path, monkeypatch):
    root = _root(tmp_path)
    import evaluator.check.triage as triage_module
    real = triage_module.load_record

    def broken(folder):
        if folder.name == "good":
            raise RuntimeError("boom")
        return real(folder)
    monkeypatch.setattr(triage_module, "load_record", broken)
    rows = {row.folder.split("/")[-1]: row for row in triage(root).rows}
    assert rows["good"].status == ERROR and rows["good"].error == "RuntimeError: boom"
    assert rows["overclaims"].status == "FAIL"


@pytest.fixture(scope="module")
def prs():
    """Every pull-request folder read and checked once: (folder, record, report, row)."""
    root = shared_path("prs").resolve()  # the folders found are resolved: ../shared may be a link
    checked = []
    for folder in find_record_folders(root).folders:
        record = load_record(folder)
        report = compliance_report(record)
        checked.append((folder, record, report, triage_row(folder.relative_to(root).as_posix(), record, report)))
    return root, checked


def test_every_pull_request_folder_on_disk_gets_a_report(prs):
    root, checked = prs
    listed = json.loads((root / "MANIFEST.json").read_text())["folders"]
    on_disk = {entry["folder"] for entry in listed if (root / entry["folder"]).is_dir()}
    assert {row.folder for *_, row in checked} == on_disk
    assert not find_record_folders(root).not_records


def test_no_claim_disagrees_silently_and_most_agree(prs):
    _, checked = prs
    rows = [row for *_, row in checked]
    assert not [row.folder for row in rows if row.claim is ClaimVerdict.SILENT]
    judged = [row for row in rows if row.claimed_bpb is not None and row.has_logs]
    agree = [row for row in judged if row.claim is ClaimVerdict.AGREES]
    assert len(agree) >= AGREE_FLOOR * len(judged), f"{len(agree)} of {len(judged)}"


def test_a_claim_the_headline_misses_is_flagged_on_the_claims_row(prs):
    _, checked = prs
    for folder, record, report, row in checked:
        if row.claim not in (ClaimVerdict.FLAGGED, ClaimVerdict.ROUNDING):
            continue
        claims = next(r for r in report.rows if r.rule == "claims")
        assert claims.status in (Status.WARN, Status.FAIL), folder


def test_where_the_claim_is_printed_the_claims_row_says_why_that_line_is_not_the_headline(prs):
    _, checked = prs
    explained = 0
    for folder, record, report, row in checked:
        if row.claim is not ClaimVerdict.FLAGGED:
            continue
        claims = next(r for r in report.rows if r.rule == "claims")
        for hit in printed_claim(record, record.submission.numbers["val_bpb"]):
            assert any(e.file == hit.file and e.line == hit.line and f"not taken: {hit.why_not}" in e.text
                       for e in claims.evidence), (folder, hit)
            explained += 1
    assert explained > 0


def test_the_web_app_lists_every_folder_of_the_same_root(tmp_path):
    from evaluator.service import RecordCatalog
    snapshot = RecordCatalog([_root(tmp_path)]).snapshot()
    assert sorted(entry.id for entry in snapshot.entries) == ["code_only", "good", "overclaims"]
    assert snapshot.problems == []


def test_the_csv_neutralises_a_folder_named_like_a_formula():
    from evaluator.check.triage import Triage, TriageRow
    row = TriageRow(folder="=cmd|' /C calc'!A0", status="FAIL", headline_bpb=1.18742567, kind="sliding_window",
                    seeds=[1337, 42], worst_bytes=9_362_069, failing=["files", "claims"], claimed_bpb=None, claim=None,
                    has_logs=True)
    read = next(csv.DictReader(io.StringIO(Triage(root="prs", rows=[row]).to_csv())))
    assert read["folder"] == "'=cmd|' /C calc'!A0" and read["headline_bpb"] == "1.18742567"
    assert read["seeds"] == "1337 42" and read["failing"] == "files claims" and read["claimed_bpb"] == ""
