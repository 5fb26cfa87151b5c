"""An ablation's results as arms against its control: the table `pgolf ablate --report` prints,
summary.json, and the arms the web app compares."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crawler.contract import RUN_LOG, MetricKind
from crawler.errors import PgolfError
from crawler.files import atomic_write_text
from evaluator.ablation.arm_comparison import ArmComparison, ArmSeeds, compare_arms, config_settings
from evaluator.ablation.plan import AblationPlan, flag_value, load_plan
from evaluator.ablation.runner import PLAN_COPY, RunResult, results_of
from evaluator.records.seeds import SeedRow

SUMMARY = "summary.json"
CHARTS = "deltas.png"
# what a delta may compare, the default first
METRICS = (MetricKind.SLIDING_WINDOW, MetricKind.ROUNDTRIP, MetricKind.PRE_QUANT)


@dataclass
class Failure:
    arm: str
    seed: int
    error: str


@dataclass
class AblationReport:
    name: str
    description: str
    preset: str
    seeds: list[int]
    wallclock_seconds: float
    launcher: str
    metric: str
    scope: str
    overrides: dict[str, dict]  # arm -> the settings the file gives it over the base
    runs: dict[str, dict[str, int]]  # arm -> finished / failed / pending
    comparison: ArmComparison
    seed_values: dict[str, dict[str, list[float]]]  # arm -> kind (and quant_gap) -> per-seed values
    failures: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise PgolfError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")


def result_row(result: RunResult, world_size: int) -> SeedRow:
    sliding = result.bpb.get(MetricKind.SLIDING_WINDOW)
    return SeedRow(seed=result.seed, log=f"runs/{result.run_id}/{RUN_LOG}",
                   bpb_by_kind={k.value: result.bpb.get(k.value) for k in MetricKind if k is not MetricKind.UNKNOWN},
                   headline_kind=MetricKind.SLIDING_WINDOW, headline_bpb=sliding,
                   val_loss=result.val_loss.get(MetricKind.SLIDING_WINDOW), steps=result.steps,
                   train_time_s=result.train_seconds, eval_time_s=None, world_size=world_size,
                   code_bytes=result.code_bytes, model_bytes=result.model_bytes, total_bytes=result.total_bytes)


def plan_arms(plan: AblationPlan, results: list[RunResult] | None = None) -> list[ArmSeeds]:
    """The plan's arms, control first, each with the finished runs' rows; settings are the arm's full config."""
    results = results_of(plan) if results is None else results
    ordered = [plan.arm(plan.control)] + [a for a in plan.arms if a.name != plan.control]
    arms = []
    for arm in ordered:
        settings = config_settings(plan.config(arm, plan.seeds[0]).to_dict())
        rows = [result_row(r, plan.nproc_per_node) for r in results if r.arm == arm.name and r.ok]
        arms.append(ArmSeeds(f"ablation:{plan.name}/{arm.name}", arm.name, "ablation", settings, rows,
                             MetricKind.SLIDING_WINDOW.value))
    return arms


def build_report(plan: AblationPlan, metric: str = MetricKind.SLIDING_WINDOW) -> AblationReport:
    check_metric(metric)
    results = results_of(plan)
    control, *arms = plan_arms(plan, results)
    runs = {}
    for arm in plan.arms:
        ok = sum(r.arm == arm.name and r.ok for r in results)
        failed = sum(r.arm == arm.name and not r.ok for r in results)
        runs[arm.name] = {"finished": ok, "failed": failed, "pending": len(plan.seeds) - ok - failed}
    scored = {r.scored_tokens for r in results if r.ok}
    scope = ("whole validation split" if plan.eval_max_tokens == 0 else f"first {plan.eval_max_tokens:,} validation targets")
    if scored:
        scope += f" ({', '.join(f'{n:,}' for n in sorted(scored))} targets scored)"
    launcher = "python" if plan.launcher == "python" else f"torchrun x{plan.nproc_per_node}"
    return AblationReport(
        name=plan.name, description=plan.description, preset=plan.preset, seeds=plan.seeds,
        wallclock_seconds=plan.wallclock_seconds, launcher=launcher, metric=metric, scope=scope,
        overrides={a.name: {k: flag_value(v) for k, v in a.overrides.items()} for a in plan.arms},
        runs=runs, comparison=compare_arms(control, arms, metric),
        seed_values={a.label: {**{k: a.values(k) for k in METRICS}, "quant_gap": a.quant_gaps()} for a in [control, *arms]},
        failures=[Failure(r.arm, r.seed, r.error or "") for r in results if not r.ok])


def _mean(summary, digits: int = 5) -> str:
    if summary is None or summary.mean is None:
        return "-"
    return f"{summary.mean:.{digits}f}" + (f"±{summary.std:.{digits}f}" if summary.std is not None else "")


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.5f}"


def format_report(report: AblationReport) -> str:
    c = report.comparison
    head = [f"{report.name}: preset {report.preset}, seeds {', '.join(map(str, report.seeds))}, "
            f"{report.wallclock_seconds:g} s training wallclock per run, {report.launcher}",
            f"scope: {report.scope}; BPB cells: mean±sample std over finished seeds"]
    if report.description:
        head.insert(1, report.description)
    columns = ["arm", "overrides", "runs", "steps", "pre-quant", "roundtrip", "sliding", "quant gap",
               f"Δ {report.metric}", "seed spread", "p (Welch)", "max bytes"]
    rows = []
    for stats in [c.control, *c.arms]:
        overrides = report.overrides[stats.label]
        counts = report.runs[stats.label]
        total = sum(counts.values())
        spread = (f"{min(stats.seed_deltas):+.5f}..{max(stats.seed_deltas):+.5f}" if len(stats.seed_deltas) > 1 else "-")
        rows.append([
            stats.label + (" (control)" if stats is c.control else ""),
            " ".join(f"{k}={v}" for k, v in overrides.items()) or "-",
            f"{counts['finished']}/{total}" + (f" ({counts['failed']} failed)" if counts["failed"] else ""),
            "-" if stats.steps is None else f"{stats.steps:.0f}",
            *(_mean(stats.bpb.get(kind))
              for kind in (MetricKind.PRE_QUANT, MetricKind.ROUNDTRIP, MetricKind.SLIDING_WINDOW)),
            _mean(stats.quant_gap),
            "control" if stats is c.control else _signed(stats.delta),
            "" if stats is c.control else spread,
            "" if stats is c.control else ("-" if stats.p_value is None else f"{stats.p_value:.3g}"),
            "-" if stats.worst_total_bytes is None else f"{stats.worst_total_bytes:,}",
        ])
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    right = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
    fmt = lambda cells: "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                                  for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()
    lines = [*head, "", fmt(columns), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    if c.kind is None:
        lines.append(f"no finished run of the control ({c.control.label}) yet: no deltas")
    lines.append("Δ: arm mean minus control mean (negative is better); seed spread: each seed's value minus the "
                 "control mean; p: two-sided Welch, shown with >= 2 seeds a side; quant gap: roundtrip - pre-quant")
    lines += [f"FAILED {f.arm} seed {f.seed}: {f.error}" for f in report.failures]
    return "\n".join(lines)


def write_summary(plan: AblationPlan, report: AblationReport, charts: bool) -> Path:
    path = plan.results_dir / SUMMARY
    atomic_write_text(path, json.dumps(report.to_dict(), indent=1) + "\n")
    if charts and report.comparison.kind is not None:
        from evaluator.ablation.delta_charts import delta_charts  # matplotlib only when drawing

        delta_charts(report, plan.results_dir / CHARTS)
    return path


def load_results_folder(folder: Path) -> AblationPlan:
    """An ablation's results folder as its plan: the file kept there, with the folder as its results."""
    return load_plan(folder / PLAN_COPY, results_dir=folder, default_name=folder.name)
