"""Hostile values wherever a config value goes (--set, a TOML file, the environment, --loops), hostile
config files, outputs nobody can write and bad server settings: each is one line and a non-zero exit,
never a traceback, with nothing created. The inputs are crafted here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crawler.config import ConfigError, load_config
from pgolf import app
from tests.conftest import REPO

runner = CliRunner()
DIGITS_400 = "9" * 400


@pytest.mark.parametrize("overrides, words", [
    ({"crawler_loops": DIGITS_400}, "config field crawler_loops: cannot read '9999"),
    ({"crawler_loops": "1e400"}, "config field crawler_loops: cannot read '1e400' as int"),
    ({"crawler_loops": 10 ** 400}, "crawler_loops = an integer of 401 digits is outside 0..64"),
    ({"crawler_loops": -10 ** 5000}, "crawler_loops = a negative integer of over 4,300 digits is outside"),
    ({"mlp_mult": 10 ** 400}, "config field mlp_mult: cannot read an integer of 401 digits as float"),
    ({"mlp_mult": "1e400"}, "mlp_mult must be finite, got inf"),
    ({"crawler_loops": True}, "config field crawler_loops: expected int, got True"),
    ({"mlp_mult": False}, "config field mlp_mult: expected float, got False"),
    ({"data_path": {"a": 1}}, "config field data_path: expected str, got dict"),
    ({"xsa_flat": 5}, "config field xsa_flat: expected bool, got 5"),
    ({"loop_rope_scales": [True, 1, 1]}, "config field loop_rope_scales: cannot read list as a list of numbers"),
    ({"rope_dims": 2}, "rope_dims must be at least 4 unless rope_ntk_len = 0"),
])
def test_values_are_checked_before_they_are_formatted_or_converted(overrides, words):
    with pytest.raises(ConfigError) as e:
        load_config("tiny", environ={}, **overrides)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_what_the_checks_let_through_still_reads():
    cfg = load_config("tiny", environ={}, crawler_loops="64.0", mlp_mult=3, xsa_flat=1, rope_dims=2, rope_ntk_len=0)
    assert (cfg.crawler_loops, cfg.mlp_mult, cfg.xsa_flat, cfg.rope_dims) == (64, 3.0, True, 2)
    assert load_config("tiny", environ={"CRAWLER_LOOPS": "1e1"}).crawler_loops == 10


def test_the_environment_is_checked_as_strictly():
    with pytest.raises(ConfigError, match="config field crawler_loops: cannot read '1e400' as int"):
        load_config("tiny", environ={"CRAWLER_LOOPS": "1e400"})


@pytest.mark.parametrize("content, words", [
    (b'run_id = "\xff"\n', "not UTF-8 text (byte 10)"),
    (b"a = " + b"[" * 50_000, "not valid TOML (nested too deep)"),
    (b"crawler_loops = " + b"9" * 5000, "not valid TOML (Exceeds the limit (4300 digits)"),
    (b"crawler_loops = " + DIGITS_400.encode(), "crawler_loops = an integer of 400 digits is outside 0..64"),
    (b"crawler_loops = 1e400", "config field crawler_loops: cannot read inf as int"),
    (b"crawler_loops = true", "config field crawler_loops: expected int, got True"),
    (b"x = 1\n" + b"#" * (1 << 20), "config file is over 1,048,576 bytes"),
])
def test_hostile_toml_is_one_line(tmp_path, content, words):
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        load_config("tiny", path, environ={})
    assert words in str(e.value) and "\n" not in str(e.value)


def _one_line(args: list[str], words: str, code: int = 1, env: dict | None = None) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == code, (result.output, result.exception)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert words in result.stderr, result.stderr


@pytest.mark.parametrize("args, env, words", [
    (["--set", f"crawler_loops={DIGITS_400}"], None, "config field crawler_loops: cannot read"),
    (["--set", "crawler_loops=1e400"], None, "cannot read '1e400' as int"),
    ([], {"CRAWLER_LOOPS": DIGITS_400}, "config field crawler_loops: cannot read"),
    (["--set", "rope_dims=2"], None, "rope_dims must be at least 4"),
])
def test_train_refuses_hostile_values_in_one_line(tmp_path, args, env, words):
    _one_line(["train", "--preset", "tiny", "--out", str(tmp_path / "O"), *args], words, env=env)
    assert not (tmp_path / "O").exists()


def test_train_leaves_nothing_when_its_data_or_tokenizer_is_bad(tmp_path, walk_data):
    out = tmp_path / "O"
    _one_line(["train", "--preset", "tiny", "--data", "/nonexistent", "--out", str(out)], "/nonexistent: data folder")
    _one_line(["train", "--preset", "tiny", "--data", str(walk_data), "--tokenizer", "/etc/passwd", "--out", str(out),
               "--set", "vocab_size=400"], "/etc/passwd")
    assert not out.exists()  # once an empty O/tiny/train.log


@pytest.mark.parametrize("command", [["train", "--preset", "tiny"], ["prepare-data"]])
def test_an_output_nobody_can_write_is_one_line_before_any_work(command):
    _one_line([*command, "--out", "/proc/1/x"], "/proc/1/x")


def test_loop_counts_past_any_bound_are_one_line(tiny_artifact, eval_data, tmp_path):
    out = tmp_path / "r.json"
    _one_line(["eval", str(tiny_artifact), "--data", str(eval_data), "--device", "cpu", "--loops", DIGITS_400,
               "--out", str(out)], "crawler_loops = an integer of 400 digits is outside 0..64")
    _one_line(["loops", str(tiny_artifact), "--data", str(eval_data), "--device", "cpu", "--loops", DIGITS_400,
               "--out", str(tmp_path / "loops")], "crawler_loops = an integer of 400 digits is outside 0..64")
    assert not out.exists() and not (tmp_path / "loops").exists()


def _pgolf(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    # its own process with a timeout: a server that failed to refuse would otherwise serve for ever
    return subprocess.run([sys.executable, "-m", "pgolf", *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize("args, words", [
    (["serve", "--db", "bogus://x"], "error: setting db: not a database URL this server can open"),
    (["worker", "--db", "bogus://x"], "error: setting db: not a database URL this server can open"),
    (["worker", "--workers", "0"], "error: --workers must be at least 1, got 0"),
    (["serve", "--host", "0.0.0.0"], "error: --host 0.0.0.0 reaches beyond this machine: set PGOLF_UPLOAD_TOKEN"),
])
def test_bad_server_settings_are_one_line(tmp_path, args, words):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGOLF_")}
    done = _pgolf([*args, "--data-dir", str(tmp_path / "web")], env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith(words), done.stderr
    assert not Path(tmp_path / "web").exists()


@pytest.mark.parametrize("value, words", [
    ("1000", "parameters, more than the 1,000 allowed (PGOLF_MAX_PARAMS)"),
    ("lots", "PGOLF_MAX_PARAMS must be a positive integer, got 'lots'"),
    ("9" * 400, "PGOLF_MAX_PARAMS must be a positive integer"),
])
@pytest.mark.parametrize("command", ["eval", "loops"])
def test_the_parameter_cap_holds_on_the_command_line(tiny_artifact, eval_data, tmp_path, command, value, words):
    out = ["--out", str(tmp_path / "r.json")] if command == "eval" else ["--out", str(tmp_path / "loops")]
    _one_line([command, str(tiny_artifact), "--data", str(eval_data), "--device", "cpu", *out], words,
              env={"PGOLF_MAX_PARAMS": value})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def overlong_record(tmp_path) -> Path:
    """A record whose first log holds a 20,000-character line and whose second is 9 MB: past the reader's caps."""
    from tests.evaluator.builders import hand_record

    folder = hand_record(tmp_path / "2026-05-01_demo")
    first, second = sorted(folder.glob("train_seed*.log"))[:2]
    first.write_text(first.read_text() + "x" * 20_000 + "\n")
    with second.open("a") as f:
        f.write(("y" * 99 + "\n") * 90_000)
    return folder


@pytest.mark.parametrize("command", ["check", "seeds"])
def test_check_and_seeds_say_what_the_reader_left_out(overlong_record, command):
    size = sorted(overlong_record.glob("train_seed*.log"))[1].stat().st_size
    truncated = f"truncated, only the first 8,388,608 of {size:,} bytes read"
    long_line = "1 line(s) over 8,192 characters not read"
    text = runner.invoke(app, [command, str(overlong_record)]).stdout
    warnings = [line for line in text.splitlines() if line.startswith("warning: ")]
    assert any(truncated in w for w in warnings) and any(long_line in w for w in warnings), text[-1500:]
    report = json.loads(runner.invoke(app, [command, str(overlong_record), "--json"]).stdout)
    assert any(truncated in w for w in report["reader_warnings"])
    assert any(long_line in w for w in report["reader_warnings"])


def test_eval_with_data_and_no_tokenizer_reads_the_data_folders_tokenizer(tmp_path, eval_data):
    # the manifest names a tokenizer elsewhere (it once opened /etc/passwd): --help promises DATA/tokenizer.model
    import torch

    from crawler.model import CrawlerGPT
    from crawler.ptz import export_model
    from tests.conftest import TINY_VOCAB

    decoy = tmp_path / "decoy.model"
    decoy.write_bytes(b"not a tokenizer")
    cfg = load_config("tiny", environ={}, data_path="/nonexistent", tokenizer_path=str(decoy), vocab_size=TINY_VOCAB,
                      model_dim=32, num_heads=2, num_kv_heads=1, rope_dims=8, train_seq_len=32, eval_seq_len=32,
                      eval_stride=32, bigram_vocab_size=64, bigram_dim=8)
    torch.manual_seed(0)
    (tmp_path / "train_gpt.py").write_text("print('x')\n")
    export_model(CrawlerGPT(cfg), cfg, eval_data / "tokenizer.model", [tmp_path / "train_gpt.py"], tmp_path / "m.ptz")
    result = runner.invoke(app, ["eval", str(tmp_path / "m.ptz"), "--data", str(eval_data), "--device", "cpu",
                                 "--max-tokens", "64", "--no-progress", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["tokenizer"] == str(eval_data / "tokenizer.model")


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--report"]])
def test_ablate_only_an_unknown_arm_is_one_line(tmp_path, extra):
    plan = tmp_path / "plan.toml"
    plan.write_text('preset = "tiny"\nseeds = [1]\nwallclock_seconds = 60\ncontrol = "a"\n[base]\nmodel_dim = 64\n'
                    '[arms.a]\ncrawler_loops = 1\n[arms.b]\ncrawler_loops = 2\n')
    _one_line(["ablate", str(plan), "--only", "nosuch", *extra], "no arm named 'nosuch' (arms: a, b)")


def test_an_analysis_past_its_memory_budget_is_refused_before_any_model_is_built(tiny_artifact, eval_data, tmp_path):
    _one_line(["loops", str(tiny_artifact), "--data", str(eval_data), "--device", "cpu", "--out", str(tmp_path / "l")],
              "over the budget of 1,000 (PGOLF_ANALYSIS_MAX_BYTES): lower --batch-seqs or --seq-len",
              env={"PGOLF_ANALYSIS_MAX_BYTES": "1000"})
    from evaluator.loopwise.analysis import LoopsError, analysis_bytes, check_cost

    # the widest config the bounds allow, at the longest window: refused by the default budget, in one line
    cfg = load_config("tiny", environ={}, vocab_size=65_536, eval_seq_len=1 << 17)
    assert analysis_bytes(cfg, 1 << 17, 4) > 8 << 30
    with pytest.raises(LoopsError, match="over the budget of 8,589,934,592"):
        check_cost(cfg, 1 << 17, 4, 8 << 30)
    assert not (tmp_path / "l").exists()


@pytest.mark.parametrize("content, words", [
    (b"a = " + b"[" * 50_000, "not valid TOML (nested too deep)"),
    (b"seeds = [" + b"9" * 5000 + b"]", "not valid TOML (Exceeds the limit (4300 digits)"),
])
def test_a_hostile_ablation_file_is_one_line(tmp_path, content, words):
    plan = tmp_path / "plan.toml"
    plan.write_bytes(content)
    _one_line(["ablate", str(plan)], words)


def test_extra_loops_past_the_loop_bound_is_one_line(tiny_artifact, tmp_path):
    # each extra loop is a row of the report: a million of them was a million rows
    _one_line(["loops", str(tiny_artifact), "--extra-loops", "1000000", "--out", str(tmp_path / "l")],
              "--extra-loops must be at most 64, got 1000000")
