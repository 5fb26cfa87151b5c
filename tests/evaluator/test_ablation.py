"""pgolf ablate: the ablation file, the runner (real runs of a micro crawler), the comparison and its report."""
import fcntl
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crawler.config import environment_without_challenge_names
from crawler.contract import MetricKind
from crawler.errors import PgolfError
from evaluator.ablation.arm_comparison import ArmSeeds, compare_arms
from evaluator.ablation.plan import PlanError, load_plan
from evaluator.ablation.runner import error_line, plan_status, read_result, result_path, run_plan
from evaluator.ablation.summary import build_report, format_report, write_summary
from evaluator.records.seeds import SeedRow
from evaluator.records.stats import welch_two_sided_p
from pgolf import app
from tests.conftest import MICRO_ABLATION, REPO

KINDS = {"pre_quant", "roundtrip", "sliding_window"}
PRINTED_8 = 5e-9 + 1e-15  # half a unit in a log's 8th decimal, and the parse's rounding of a BPB below 8


def write_plan(tmp_path, text, name="micro.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def micro_text(tmp_path, **replace):
    text = MICRO_ABLATION.format(data=tmp_path / "data", missing=tmp_path / "no_data")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def test_the_file_maps_challenge_names_and_orders_runs_seed_by_seed(tmp_path):
    plan = load_plan(write_plan(tmp_path, micro_text(tmp_path)))
    assert plan.name == "micro" and plan.results_dir == tmp_path / "micro" and plan.control == "loops2"
    assert [(s.arm, s.seed) for s in plan.runs()] == [
        ("loops2", 1), ("loops1", 1), ("broken", 1), ("loops2", 2), ("loops1", 2), ("broken", 2)]
    spec = plan.runs()[1]
    assert (spec.config.crawler_loops, spec.config.seed, spec.config.max_wallclock_seconds) == (1, 1, 600.0)
    assert spec.config.model_dim == 64 and spec.run_id == "loops1_s1"
    command = plan.command(spec)
    assert command[1:3] == ["-m", "crawler.train_cli"] and "--set" in command and "crawler_loops=1" in command
    assert command[command.index("--run-id") + 1] == "loops1_s1" and command[command.index("--seed") + 1] == "1"
    evaluation = plan.eval_command(spec)
    assert evaluation[1:4] == ["-m", "pgolf", "eval"] and evaluation[evaluation.index("--max-tokens") + 1] == "0"

    gpus = load_plan(write_plan(tmp_path, micro_text(tmp_path) + '\n[launcher]\ncommand = "torchrun"\nnproc_per_node = 8\n'))
    assert gpus.command(spec)[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=8", "-m"]


def test_the_shipped_ablation_files_are_valid():
    cpu = load_plan(REPO / "ablations" / "tiny_cpu.toml")
    assert cpu.preset == "tiny" and cpu.launcher == "python" and len(cpu.seeds) >= 2
    assert {a.name: a.overrides for a in cpu.arms}["loops1"] == {"crawler_loops": 1}
    gpu = load_plan(REPO / "ablations" / "leg2_gpu.toml")
    configs = {s.arm: s.config for s in gpu.runs() if s.seed == gpu.seeds[0]}
    assert gpu.launcher == "torchrun" and gpu.nproc_per_node == 8 and gpu.wallclock_seconds == 600
    assert {arm: (c.crawler_loops, c.crawler_mlp_mult) for arm, c in configs.items()} == {
        "CL2-00": (4, 4.0), "CL2-01": (3, 4.0), "CL2-02": (4, 5.0), "CL2-03": (3, 5.0)}


@pytest.mark.parametrize("replace, append, message", [
    ({'description =': 'colour = "red"\ndescription ='}, "", "unknown key 'colour'"),
    ({'control = "loops2"': 'control = "loops9"'}, "", "no arm named 'loops9'"),
    ({"seeds = [1, 2]": "seeds = [1, 1]"}, "", "distinct integers"),
    ({"seeds = [1, 2]": "seeds = 1"}, "", "seeds must be a list"),
    ({"wallclock_seconds = 600": "wallclock_seconds = 0"}, "", "wallclock_seconds must be > 0"),
    ({'preset = "tiny"': 'preset = "huge"'}, "", "unknown preset 'huge'"),
    ({"CRAWLER_LOOPS = 1": "SEED = 5"}, "", "seeds, wallclock_seconds and folders are set at the top level"),
    ({"CRAWLER_LOOPS = 1": "CRAWLER_LOOPS = 2\nloop_rope_scales = [1.0, 3.0, 9.0]"}, "",
     "arm loops1: loop_rope_scales needs one value per crawler loop"),
    ({"crawler_loops = 2": 'crawler_loops = "many"'}, "", "arm loops2: config field crawler_loops: cannot read 'many'"),
    ({"crawler_loops = 2": "colour = 2"}, "", "arm loops2: unknown config field 'colour'"),
    ({"CRAWLER_LOOPS = 1": "EMBED_LR = 0.6"}, "", "sets EMBED_LR, which the trainer ignores (its embeddings are tied"),
    ({"[arms.loops1]": '[arms."loops 1"]'}, "", "arm name 'loops 1'"),
    ({}, '\n[launcher]\ncommand = "mpirun"\n', "launcher command must be one of python, torchrun"),
    ({}, "\n[launcher]\nnproc_per_node = 4\n", "nproc_per_node must be 1 with python"),
    ({"eval_max_tokens = 0": "eval_max_tokens = -1"}, "", "eval_max_tokens must be an integer >= 0"),
    ({"eval_max_tokens = 0": "eval_max_tokens = = 0"}, "", "not valid TOML"),
])
def test_a_bad_file_is_refused_with_what_is_wrong(tmp_path, replace, append, message):
    path = write_plan(tmp_path, micro_text(tmp_path, **replace) + append)
    with pytest.raises(PlanError, match=re.escape(message)):
        load_plan(path)
    assert not (tmp_path / "micro").exists()  # nothing was started


def test_a_bad_file_is_one_line_and_exit_1(tmp_path):
    result = CliRunner().invoke(app, ["ablate", str(tmp_path / "missing.toml")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'missing.toml'}: ablation file not found"


def test_runs_do_not_inherit_the_challenge_variables():
    env, dropped = environment_without_challenge_names({"PATH": "/bin", "SEED": "3", "CRAWLER_LOOPS": "4", "PGOLF_PORT": "1"})
    assert env == {"PATH": "/bin", "PGOLF_PORT": "1"} and dropped == ["CRAWLER_LOOPS", "SEED"]


def test_every_run_is_trained_evaluated_and_recorded(micro_ablation):
    plan, results = micro_ablation
    assert [(r.arm, r.seed, r.status) for r in results] == [
        ("loops2", 1, "ok"), ("loops1", 1, "ok"), ("broken", 1, "failed"),
        ("loops2", 2, "ok"), ("loops1", 2, "ok"), ("broken", 2, "failed")]
    for r in (r for r in results if r.ok):
        run_dir = plan.runs_dir / r.run_id
        assert r.steps == 12 and set(r.bpb) == KINDS and r.config["crawler_loops"] == (2 if r.arm == "loops2" else 1)
        # the evaluator's reload of the artifact agrees with what the trainer logged for the same file: both score
        # it in the same batches (MICRO_ABLATION's val_batch_size), so only the log's 8 decimals differ
        for kind in ("roundtrip", "sliding_window"):
            assert r.bpb[kind] == pytest.approx(r.trainer_bpb[kind], rel=0, abs=PRINTED_8)
        assert r.model_bytes == (run_dir / "final_model.ptz").stat().st_size
        assert r.total_bytes == r.model_bytes + r.code_bytes and r.scored_tokens > 3000
        assert read_result(result_path(plan, next(s for s in plan.runs() if s.run_id == r.run_id))) == r
    by_id = {r.run_id: r for r in results}
    assert by_id["loops1_s1"].bpb != by_id["loops2_s1"].bpb and by_id["loops2_s1"].bpb != by_id["loops2_s2"].bpb


def test_a_crash_is_recorded_with_its_error_and_the_others_go_on(micro_ablation):
    plan, results = micro_ablation
    broken = [r for r in results if r.arm == "broken"]
    for r in broken:
        assert r.returncode == 1 and r.error.startswith("training exited with status 1: error:")
        assert "no_data" in r.error and r.bpb == {}
        assert "Traceback" not in (plan.runs_dir / r.run_id / "output.log").read_text()


def test_running_again_resumes_and_never_repeats_a_finished_run(micro_ablation):
    plan, _ = micro_ablation
    finished = {s.run_id: result_path(plan, s).read_bytes() for s in plan_status(plan)["finished"]}
    assert len(finished) == 4
    again = run_plan(plan)
    assert [(r.arm, r.seed, r.status) for r in again] == [("broken", 1, "failed"), ("broken", 2, "failed")]
    assert {s.run_id: result_path(plan, s).read_bytes() for s in plan_status(plan)["finished"]} == finished
    assert run_plan(plan, only=["loops1"]) == []


def test_a_changed_file_runs_new_arms_and_refuses_changed_finished_ones(micro_ablation, tmp_path):
    plan, _ = micro_ablation
    results = tmp_path / "copy"
    shutil.copytree(plan.results_dir, results)
    added = plan.text + "\n[arms.loops3]\ncrawler_loops = 3\n"
    grown = load_plan(write_plan(tmp_path, added, "grown.toml"), results_dir=results)
    states = plan_status(grown)
    assert len(states["finished"]) == 4 and [s.run_id for s in states["pending"]] == ["loops3_s1", "loops3_s2"]
    changed = load_plan(write_plan(tmp_path, plan.text.replace("CRAWLER_LOOPS = 1", "CRAWLER_LOOPS = 3"), "changed.toml"),
                        results_dir=results)
    with pytest.raises(PlanError, match=r"loops1_s1.json was run with other settings \(crawler_loops\)"):
        run_plan(changed)
    assert (results / "ablation.toml").read_text() == plan.text  # refused before touching anything


def test_the_report_compares_each_arm_with_the_control(micro_ablation):
    plan, _ = micro_ablation
    report = build_report(plan)
    c = report.comparison
    assert c.kind == "sliding_window" and c.control.label == "loops2" and [a.label for a in c.arms] == ["loops1", "broken"]
    values = {(r.arm, r.seed): r.bpb for r in map(read_result, sorted((plan.results_dir / "results").glob("*.json"))) if r.ok}
    control = [values["loops2", s]["sliding_window"] for s in (1, 2)]
    arm = [values["loops1", s]["sliding_window"] for s in (1, 2)]
    loops1, broken = c.arms
    # means and differences of two float64 values near 2: each side within a few ulps (4.4e-16), far inside 1e-12
    assert loops1.delta == pytest.approx(sum(arm) / 2 - sum(control) / 2, abs=1e-12)
    assert loops1.seed_deltas == pytest.approx([v - sum(control) / 2 for v in arm], abs=1e-12)
    assert loops1.p_value == pytest.approx(welch_two_sided_p(arm, control)) and loops1.p_value is not None
    gaps = [values["loops1", s]["roundtrip"] - values["loops1", s]["pre_quant"] for s in (1, 2)]
    assert loops1.quant_gap.mean == pytest.approx(sum(gaps) / 2, abs=1e-12)
    assert [(d.key, d.control, d.arm) for d in loops1.settings_diff] == [("crawler_loops", "2", "1")]
    assert broken.delta is None and broken.bpb == {} and report.runs["broken"]["failed"] == 2
    assert c.control.p_value is None and c.control.delta == 0.0

    text = format_report(report)
    assert "loops2 (control)" in text and "crawler_loops=1" in text and f"{loops1.delta:+.5f}" in text
    assert "FAILED broken seed 1: training exited with status 1" in text and "0/2 (2 failed)" in text
    summary = json.loads(write_summary(plan, report, charts=True).read_text())
    assert summary["comparison"]["arms"][0]["delta"] == loops1.delta
    assert summary["seed_values"]["loops1"]["sliding_window"] == arm
    assert (plan.results_dir / "deltas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PgolfError, match="unknown metric"):
        build_report(plan, "best")


def test_report_and_dry_run_commands(micro_ablation):
    plan, _ = micro_ablation
    report = CliRunner().invoke(app, ["ablate", str(plan.path), "--report", "--metric", "roundtrip"])
    assert report.exit_code == 0 and "Δ roundtrip" in report.output and "loops1" in report.output
    bad = CliRunner().invoke(app, ["ablate", str(plan.path), "--metric", "best"])
    assert bad.exit_code == 1 and bad.output.startswith("error: unknown metric 'best'")
    dry = CliRunner().invoke(app, ["ablate", str(plan.path), "--dry-run"])
    commands = [line for line in dry.output.splitlines() if "crawler.train" in line]
    assert dry.exit_code == 0 and len(commands) == 2 and all("--run-id broken_s" in line for line in commands)


def row(seed, **bpb):
    return SeedRow(seed=seed, log="", bpb_by_kind=bpb, headline_kind=MetricKind.SLIDING_WINDOW, headline_bpb=None,
                   val_loss=None, steps=100 + seed, train_time_s=None, eval_time_s=None, world_size=1, code_bytes=None,
                   model_bytes=None, total_bytes=1000 + seed)


def test_compare_on_written_numbers():
    control = ArmSeeds("c", "c", "run", {"loops": "3"}, [row(1, roundtrip=2.0, sliding_window=1.9),
                                                        row(2, roundtrip=2.2, sliding_window=2.1)], "sliding_window")
    arm = ArmSeeds("a", "a", "run", {"loops": "1"}, [row(1, sliding_window=1.7, pre_quant=1.6, roundtrip=1.8),
                                                    row(2, sliding_window=1.8, pre_quant=1.7, roundtrip=1.75)],
                   "sliding_window")
    result = compare_arms(control, [arm])
    assert result.kind == "sliding_window" and result.kinds == ["roundtrip", "sliding_window"]
    (stats,) = result.arms
    # float64 means of two decimals each: a few ulps from the exact values, well inside approx's default 1e-6
    assert stats.delta == pytest.approx(-0.25) and stats.seed_deltas == pytest.approx([-0.3, -0.2])
    assert stats.quant_gap.mean == pytest.approx(0.125) and stats.steps == 101.5 and stats.worst_total_bytes == 1002
    assert stats.p_value == pytest.approx(welch_two_sided_p([1.7, 1.8], [1.9, 2.1]))
    assert compare_arms(control, [arm], "roundtrip").arms[0].delta == pytest.approx(1.775 - 2.1)


@pytest.mark.parametrize("a, b", [([1.0, 1.2, 1.1], [1.3, 1.5, 1.45]), ([2.0, 2.1], [2.0, 2.3, 2.2, 2.25]),
                                  ([1.18720375, 1.18761637, 1.18745690], [1.1226, 1.1233, 1.1240])])
def test_welch_two_sided_matches_scipy(a, b):
    stats = pytest.importorskip("scipy.stats")
    # the same t and df in float64, then two float64 evaluations of the t tail, each to near machine precision
    # (ours: a continued fraction to 1e-15); the swapped call negates t and takes the same tail
    assert welch_two_sided_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert welch_two_sided_p(a, b) == pytest.approx(welch_two_sided_p(b, a), rel=1e-12)


def test_welch_two_sided_edges():
    assert welch_two_sided_p([1.0], [1.0, 2.0]) is None
    assert welch_two_sided_p([1.0, 1.0], [1.0, 1.0]) == 1.0 and welch_two_sided_p([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert math.isclose(welch_two_sided_p([0.0, 2.0], [0.0, 2.0]), 1.0)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_the_run_and_records_nothing(walk_data, tmp_path, stop):
    text = micro_text(tmp_path).replace(str(tmp_path / "data"), str(walk_data)).replace("iterations = 12", "iterations = 100000")
    path = write_plan(tmp_path, text)
    # Ctrl-C reaches a terminal's foreground command; a suite started in the background (`make test &`) ignores
    # SIGINT, and Python keeps an inherited SIG_IGN, so the runner is given the terminal's default
    proc = subprocess.Popen([sys.executable, "-m", "pgolf", "ablate", str(path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "micro" / "runs" / "loops2_s1" / "train.log"
    deadline = time.monotonic() + 120
    try:
        while not (log.is_file() and "train_loss" in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:  # a failed test must not leave its 100,000-step trainer running (the runner stops it on SIGTERM)
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: the run in progress was not recorded" in err
    assert list((tmp_path / "micro" / "results").glob("*.json")) == []
    assert _processes_mentioning(str(tmp_path / "micro" / "runs")) == []  # the trainer went with it


def test_one_runner_per_results_folder(micro_ablation):
    plan, _ = micro_ablation
    with open(plan.results_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PlanError, match="another pgolf ablate is running on this results folder"):
            run_plan(plan)


def test_the_torchrun_launcher_trains_and_evaluates_on_two_processes(walk_data, tmp_path):
    """The GPU files' launch path, on CPU: torchrun with 2 Gloo processes for training and for `pgolf eval`."""
    text = MICRO_ABLATION.format(data=walk_data, missing=tmp_path / "no_data").replace("seeds = [1, 2]", "seeds = [1]")
    text = text.replace("val_batch_size = 512", "val_batch_size = 1024")  # 16 windows per rank, as pgolf eval's
    text = text[:text.index("[arms.broken]")] + '[launcher]\ncommand = "torchrun"\nnproc_per_node = 2\n'
    plan = load_plan(write_plan(tmp_path, text))
    results = run_plan(plan)
    outputs = {r.run_id: (plan.runs_dir / r.run_id / "output.log").read_text()[-4000:] for r in results if not r.ok}
    assert [(r.arm, r.status) for r in results] == [("loops2", "ok"), ("loops1", "ok")], outputs
    for r in results:
        assert "world_size:2 " in (plan.runs_dir / r.run_id / "train.log").read_text()
        report = json.loads((plan.runs_dir / r.run_id / "final_model.eval.json").read_text())
        assert report["world_size"] == 2 and r.steps == 12
        for kind in ("roundtrip", "sliding_window"):  # 16 windows a batch on each rank, as in pgolf eval
            assert r.bpb[kind] == pytest.approx(r.trainer_bpb[kind], rel=0, abs=PRINTED_8)


def _torchrun_output(tmp_path: Path, worker: str) -> Path:
    """What torchrun with 2 processes prints when rank 1 runs `worker` (the other waits)."""
    script = tmp_path / "worker.py"
    script.write_text(f'import os, signal, time\nif os.environ["RANK"] == "1":\n    {worker}\ntime.sleep(3)\n')
    output = tmp_path / "output.log"
    with open(output, "wb") as out:
        status = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                 str(script)], stdout=out, stderr=subprocess.STDOUT, timeout=120).returncode
    assert status == 1 and "ChildFailedError" in output.read_text()
    return output


def test_a_failed_worker_is_reported_by_its_own_error_not_torchruns_banner(tmp_path):
    output = _torchrun_output(tmp_path, 'raise RuntimeError("rank 1 has no shard")')
    assert error_line(output) == "RuntimeError: rank 1 has no shard"
    killed = _torchrun_output(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")  # as the OOM killer ends a worker
    assert re.fullmatch(r"torchrun: rank 1 \(local_rank: 1\) ended with exit code -9 \(pid: \d+\) \(SIGKILL\)",
                        error_line(killed)), error_line(killed)
    output.write_text("step:1/2 train_loss:6.9\nerror: data/x.bin: no such shard\n" + "=" * 60 + "\n")
    assert error_line(output) == "error: data/x.bin: no such shard"
    output.write_text("Killed\n" + "-" * 60 + "\n")
    assert error_line(output) == "Killed"
