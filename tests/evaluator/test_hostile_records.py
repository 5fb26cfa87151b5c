"""Hostile record folders, crafted here: symlinks out of the folder, a FIFO, JSON nested 1,000 deep, 5,000-digit
integers, non-finite numbers, oversized READMEs and logs, broken loops/ reports. Each must end as one `problems`
row, a reader warning, a 4xx with a clear message or a FAIL finding, never as a 500, a traceback, a hang or a
leak of the file a symlink points at."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from evaluator.records import untrusted_files as record_files
from evaluator.records import logs as record_logs
from evaluator.records.record import load_record, read_readme
from pgolf import app as pgolf_app
from tests.evaluator.builders import SECRET, TRACK, build_corpus, hand_record
from evaluator.serving import catalog as catalog_module
from webapp.app import create_app
from webapp.settings import Settings


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root, _ = build_corpus(tmp_path_factory.mktemp("hostile"))
    return root


@pytest.fixture(scope="module")
def client(corpus, tmp_path_factory) -> TestClient:
    web = tmp_path_factory.mktemp("hostile-web")
    settings = Settings(records=[corpus], runs=[web / "runs"], ablations=[web / "ablations"], data_dir=web / "data",
                        eval_data_dir=web, eval_device="cpu", loops_tokens=0)
    return TestClient(create_app(settings), raise_server_exceptions=False)


# every fault, and the problems row (or reader warning) that reports it
PROBLEMS = {
    "readme_symlink": "readme_symlink: README.md: a symlink, not followed",
    "log_symlink": "log_symlink: train_seed7.log: a symlink, not followed",
    "submission_symlink": "submission_symlink: submission.json: a symlink, not followed",
    "dir_symlink": "dir_symlink: logs: a symlink, not followed",
    "fifo_log": "fifo_log: train_seed9.log: not a regular file",
    "deep_submission": "deep_submission: submission.json: nested deeper than 32 levels",
    "bigint_submission": "bigint_submission: submission.json: an integer of 5,000 digits",
    "inf_submission": "inf_submission: submission.json: 1e400 is not a finite number",
    "nan_submission": "nan_submission: submission.json: NaN is not a finite number",
    "infinity_submission": "infinity_submission: submission.json: -Infinity is not a finite number",
    "loops_symlink": "loops_symlink: loops/loops.json: a symlink, not followed",
    "png_symlink": "png_symlink: loops/similarity.png: a symlink, not followed",
    "linked_record": f"{TRACK}/linked_record: a symlinked folder, not followed",
}
WARNINGS = {
    "seedkey_submission": "submission.json: seed_9999999999999999999...: a seed of 5,005 characters, ignored",
    "bigint_log": "train_seed1337.log: 3 line(s) with a number out of range not read (line 20: an integer of 5,000 digits)",
    "manifest_bigint": "MANIFEST.json: MANIFEST.json: an integer of 5,000 digits; ignored",
}


def test_every_fault_is_one_problems_row_and_the_index_still_lists_every_record(client):
    index = client.get("/api/records")
    assert index.status_code == 200
    body = index.json()
    assert sorted(body["problems"]) == sorted(PROBLEMS.values())
    listed = {row["id"] for row in body["rows"]}
    records = set(PROBLEMS) - {"linked_record"} | set(WARNINGS) | {
        "not_a_record", "healthy", "loops_malformed", "loops_bigint", "loops_deep", "huge_readme", "only_log", "every_step"}
    assert listed == records
    healthy = next(row for row in body["rows"] if row["id"] == "healthy")
    assert healthy["n_seeds"] == 3 and healthy["mean_bpb"] == pytest.approx(1.18742567, abs=5e-9)  # 8 decimals: half a unit
    only_log = next(row for row in body["rows"] if row["id"] == "only_log")
    assert only_log["worst_total_bytes"] == 16_500_100 and only_log["status"] == "FAIL"


@pytest.mark.parametrize("record_id, warning", WARNINGS.items())
def test_bad_numbers_in_logs_seed_keys_and_manifests_are_reader_warnings(client, record_id, warning):
    detail = client.get(f"/api/records/{record_id}")
    assert detail.status_code == 200
    assert any(w.endswith(warning) for w in detail.json()["warnings"]), detail.json()["warnings"]


def test_no_page_fails_and_no_page_shows_what_a_symlink_points_at(client):
    ids = [row["id"] for row in client.get("/api/records").json()["rows"]]
    urls = ["/records", "/api/records", "/records.csv", "/ablation", "/api/ablation",
            "/api/ablation?control=record:healthy&arm=record:bigint_log"]
    for record_id in ids:
        urls += [f"/records/{record_id}", f"/api/records/{record_id}", f"/api/records/{record_id}/charts",
                 f"/records/{record_id}?against=healthy", f"/records/{record_id}/loops/similarity.png"]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code, response.text[:300])
        assert SECRET not in response.text and SECRET.encode() not in response.content, url


def test_a_symlinked_readme_is_refused_with_a_note_instead_of_rendered(client):
    detail = client.get("/api/records/readme_symlink").json()
    assert detail["readme_markdown"] is None and detail["readme_note"] == "README.md: a symlink, not followed"
    assert 'id="readme-note">README.md: a symlink, not followed<' in client.get("/records/readme_symlink").text
    files_rule = next(row for row in detail["compliance"] if row["rule"] == "files")
    assert files_rule["status"] == "FAIL"
    assert "README.md: a symlink, not followed; a record ships regular files only" in [e["text"] for e in files_rule["evidence"]]


def test_a_big_readme_is_cut_at_the_limit_with_a_visible_note(client):
    detail = client.get("/api/records/huge_readme").json()
    note = "README.md: truncated, only the first 262,144 of 300,006 bytes read"
    assert detail["readme_note"] == note and len(detail["readme_markdown"]) == record_files.README_LIMIT
    assert note in client.get("/records/huge_readme").text


@pytest.mark.parametrize("record_id, message", [
    ("loops_symlink", "record 'loops_symlink': loops/loops.json: a symlink, not followed"),
    ("loops_malformed", "record 'loops_malformed': loops/loops.json: not a `pgolf loops` report (config: field required)"),
    ("loops_bigint", "record 'loops_bigint': loops/loops.json: an integer of 5,000 digits"),
    ("loops_deep", "record 'loops_deep': loops/loops.json: nested deeper than 32 levels"),
])
def test_a_bad_loops_json_is_a_422_with_its_fault_on_every_loops_endpoint(client, record_id, message):
    for url in (f"/api/records/{record_id}/loops", f"/records/{record_id}/loops"):
        response = client.get(url)
        assert response.status_code == 422, (url, response.text[:300])
        assert message in response.text
    assert client.get(f"/records/{record_id}/loops/similarity.png").status_code == 404


def test_a_log_of_every_step_is_drawn_from_at_most_2000_points_ending_at_its_last(client):
    curves = {curve["log"]: curve for curve in client.get("/api/records/every_step").json()["curves"]}
    train = curves["train_seed42.log"]["train"]
    # 8,001 points: every 5th is drawn, the first and the last among them
    assert len(train) == 1601 and train[0]["step"] == 1 and train[-1]["step"] == 8001
    assert len(curves["train_seed1337.log"]["train"]) == 1  # a short log is drawn as it is
    assert client.get("/api/records/every_step/charts").status_code == 200


def test_a_symlinked_plot_is_not_served_but_the_report_beside_it_is(client):
    assert client.get("/api/records/png_symlink/loops").json()["plots"] == {}
    assert client.get("/records/png_symlink/loops/similarity.png").status_code == 404
    assert client.get("/api/records/healthy/loops").status_code == 404


def test_the_parsed_records_are_kept_until_a_file_changes(client, corpus, monkeypatch):
    catalog = client.app.state.catalog
    before = {entry.id: entry for entry in catalog.entries()}
    log = corpus / TRACK / "healthy" / "train_seed42.log"
    log.write_text(log.read_text() + "\n", encoding="utf-8")
    # rewritten in place (its folder's mtime unchanged): seen once the folder's listing is LISTING_TTL_SECONDS old
    monkeypatch.setattr(catalog_module, "LISTING_TTL_SECONDS", 0.0)
    after = {entry.id: entry for entry in catalog.entries()}
    assert after["healthy"] is not before["healthy"]
    assert all(after[name] is before[name] for name in before if name != "healthy")
    monkeypatch.undo()
    (log.parent / "notes.txt").write_text("added\n")  # a new file changes the folder's mtime: seen at once
    again = {entry.id: entry for entry in catalog.entries()}
    assert again["healthy"] is not after["healthy"] and again["readme_symlink"] is after["readme_symlink"]
    (log.parent / "notes.txt").unlink()


def test_a_folder_of_many_files_is_not_listed_on_every_request(client, corpus, monkeypatch):
    crowded = corpus / TRACK / "healthy" / "crowd"
    crowded.mkdir()
    for i in range(2000):
        (crowded / f"f{i}.txt").write_bytes(b"")
    listed = []
    real = catalog_module.list_files
    monkeypatch.setattr(catalog_module, "list_files", lambda folder: listed.append(folder) or real(folder))
    for _ in range(5):
        assert client.get("/api/records").status_code == 200
    assert listed.count(corpus / TRACK / "healthy") == 1  # once, as it changed (the new folder), then kept
    for path in crowded.iterdir():
        path.unlink()
    crowded.rmdir()


runner = CliRunner()
CLI_FAILS = {  # record -> the FAIL evidence `pgolf check` prints
    "readme_symlink": "README.md: a symlink, not followed; a record ships regular files only",
    "log_symlink": "train_seed7.log: a symlink, not followed; a record ships regular files only",
    "submission_symlink": "submission.json: a symlink, not followed; a record ships regular files only",
    "fifo_log": "train_seed9.log: not a regular file; a record ships regular files only",
    "deep_submission": "submission unreadable: submission.json: nested deeper than 32 levels",
    "bigint_submission": "submission unreadable: submission.json: an integer of 5,000 digits",
    "inf_submission": "submission unreadable: submission.json: 1e400 is not a finite number",
    "nan_submission": "submission unreadable: submission.json: NaN is not a finite number",
    "infinity_submission": "submission unreadable: submission.json: -Infinity is not a finite number",
}


@pytest.mark.parametrize("record_id, evidence", CLI_FAILS.items())
def test_check_turns_each_fault_into_a_fail_finding_and_exit_1(corpus, record_id, evidence):
    result = runner.invoke(pgolf_app, ["check", str(corpus / TRACK / record_id)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "Overall: FAIL" in result.output and evidence in result.output.replace("\n      ", " ")
    assert SECRET not in result.output


@pytest.mark.parametrize("record_id", [*CLI_FAILS, "seedkey_submission", "bigint_log", "huge_readme", "only_log"])
def test_seeds_reads_every_hostile_folder_without_a_traceback(corpus, record_id):
    result = runner.invoke(pgolf_app, ["seeds", str(corpus / TRACK / record_id)])
    assert result.exit_code == 0 and "Traceback" not in result.output and SECRET not in result.output
    assert "Worst seed size" in result.output


def test_a_folder_in_a_track_without_record_files_is_checked_and_fails_its_required_files(corpus):
    result = runner.invoke(pgolf_app, ["check", str(corpus / TRACK / "not_a_record")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "README.md: missing" in result.output and "train log: none with training lines" in result.output


def test_a_log_over_the_limit_is_read_up_to_it_with_a_warning(tmp_path, monkeypatch):
    folder = hand_record(tmp_path / "r", seeds={1: 1.2})
    log = folder / "train_seed1.log"
    text = log.read_text()
    log.write_text(text + "step:9/20000 train_loss:3.0 train_time:1ms\n" * 1000, encoding="utf-8")
    monkeypatch.setattr(record_logs, "LOG_LIMIT", len(text))
    record = load_record(folder)
    assert record.logs[0].stop is not None and len(record.logs[0].train_curve) == 1
    assert f"train_seed1.log: train_seed1.log: truncated, only the first {len(text):,} of {log.stat().st_size:,} bytes read" \
        in record.warnings


def test_a_readme_replaced_by_a_symlink_after_listing_is_still_refused(tmp_path):
    folder = hand_record(tmp_path / "r", seeds={1: 1.2})
    record = load_record(folder)
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(tmp_path / "r" / "submission.json")
    assert read_readme(record).note == "README.md: a symlink, not followed" and read_readme(record).text == ""


def test_the_ablation_page_reads_a_records_log_once_not_per_request(client, monkeypatch):
    query = "/api/ablation?control=record:healthy&arm=record:only_log"
    first = client.get(query).json()
    assert first["control"]["id"] == "record:healthy"

    def no_reads(*args, **kwargs):
        raise AssertionError("a record's log was read again")

    monkeypatch.setattr("evaluator.serving.arms.read_capped", no_reads)
    assert client.get(query).json() == first
