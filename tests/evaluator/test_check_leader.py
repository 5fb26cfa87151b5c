"""Significance under each policy, against a baseline given or the leader at the time (`--against-leader`)."""
import json

from typer.testing import CliRunner

from evaluator.records.leader import leader_before
from evaluator.records.record import load_record, scan_records
from pgolf import app
from tests.evaluator.builders import hand_record

runner = CliRunner()
BETTER = {1: 1.1870, 2: 1.1874, 3: 1.1872}  # beats every leader below by far more than 0.005 nats
SLIGHTLY = {1: 1.2196, 2: 1.2199, 3: 1.2197}  # just below LEADER: the practice's bar only


def _records(tmp_path):
    track = tmp_path / "records" / "track_10min_16mb"
    hand_record(track / "2026-04-01_leader", seeds={1: 1.2200, 2: 1.2204, 3: 1.2198}, submission={"date": "2026-04-01"})
    hand_record(track / "2026-04-02_worse", seeds={1: 1.2500, 2: 1.2504, 3: 1.2502}, submission={"date": "2026-04-02"})
    hand_record(track / "2026-04-20_later", seeds={1: 1.10, 2: 1.1004, 3: 1.0998}, submission={"date": "2026-04-20"})
    hand_record(tmp_path / "records" / "track_non_record_16mb" / "2026-04-03_other_track",
                seeds={1: 1.0, 2: 1.0004, 3: 0.9998}, submission={"date": "2026-04-03"})
    return tmp_path / "records", track


def test_the_leader_is_the_best_earlier_record_of_the_same_track(tmp_path):
    root, track = _records(tmp_path)
    candidate = load_record(hand_record(track / "2026-04-10_new", seeds=BETTER, submission={"date": "2026-04-10"}))
    assert leader_before(candidate, scan_records(root)).name == "2026-04-01_leader"
    first = load_record(track / "2026-04-01_leader")
    assert leader_before(first, scan_records(root)) is None


def test_each_policy_is_its_own_row_in_every_output(tmp_path):
    root, track = _records(tmp_path)
    folder = hand_record(track / "2026-04-10_slightly", seeds=SLIGHTLY, submission={"date": "2026-04-10"})
    data = json.loads(runner.invoke(app, ["check", str(folder), "--json", "--against-leader", str(root)]).output)
    assert data["against"] == "2026-04-01_leader"
    rows = {row["rule"]: row for row in data["rows"]}
    assert rows["significance"]["status"] == "WARN" and "#2148" in rows["significance"]["reading"]
    assert rows["significance_practice"]["status"] == "PASS" and "#1902" in rows["significance_practice"]["reading"]
    markdown = runner.invoke(app, ["check", str(folder), "--markdown", "--against-leader", str(root)]).output
    assert "| Significance: README (0.005 nats, p < 0.01) | WARN |" in markdown
    assert "| Significance: leaderboard practice (p < 0.25) | PASS |" in markdown
    text = runner.invoke(app, ["check", str(folder), "--against-leader", str(root)]).output
    assert "[WARN] Significance: README" in text and "[PASS] Significance: leaderboard practice" in text


def test_worse_than_the_leader_fails_both_policies(tmp_path):
    root, track = _records(tmp_path)
    folder = hand_record(track / "2026-04-10_worse_again", seeds={1: 1.2300, 2: 1.2304, 3: 1.2302},
                         submission={"date": "2026-04-10"})
    result = runner.invoke(app, ["check", str(folder), "--json", "--against-leader", str(root)])
    assert result.exit_code == 1
    rows = {row["rule"]: row["status"] for row in json.loads(result.output)["rows"]}
    assert rows["significance"] == "FAIL" and rows["significance_practice"] == "FAIL"


def test_no_leader_or_both_baselines_is_one_line_and_exit_2(tmp_path):
    root, track = _records(tmp_path)
    first = track / "2026-04-01_leader"
    result = runner.invoke(app, ["check", str(first), "--against-leader", str(root)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0 and "no scored record" in result.output
    result = runner.invoke(app, ["check", str(first), "--against-leader", str(root), "--against", str(first)])
    assert result.exit_code == 2 and "choose one of --against and --against-leader" in result.output
