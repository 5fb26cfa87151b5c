"""`pgolf ablate FILE`: run what is missing of an ablation; `--report` shows the comparison table."""
from __future__ import annotations

import shlex
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from tqdm import tqdm

from crawler.config import environment_without_challenge_names
from crawler.contract import MetricKind
from crawler.errors import exit_on_error
from evaluator.ablation.plan import load_plan
from evaluator.cli_inputs import input_file
from evaluator.units import duration


def ablate_command(
    file: Annotated[Path, typer.Argument(help="The ablation file (TOML): preset, base, control, arms, seeds, wallclock, launcher.")],
    report: Annotated[bool, typer.Option("--report", help="Show the comparison table and write its bar charts; train nothing.")] = False,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Run only this arm (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the pending runs' commands; train nothing.")] = False,
    metric: Annotated[str, typer.Option(help="The BPB the deltas compare: sliding_window, roundtrip or pre_quant.")] = MetricKind.SLIDING_WINDOW.value,
) -> None:
    """Train and evaluate every (arm, seed) of FILE that has no finished result yet (re-running resumes)."""
    with exit_on_error():
        from evaluator.ablation.summary import build_report, check_metric, format_report, write_summary  # torch-free --help
        from evaluator.ablation.runner import plan_status, run_plan

        if file.exists():  # a named pipe would block the read and /dev/zero never end it (a missing file: load_plan)
            input_file(file, "ablation file")
        plan = load_plan(file)
        for name in only or ():  # an unknown arm is an error, not a plan with nothing to run
            plan.arm(name)
        check_metric(metric)  # now, not after the first run
        if report:
            result = build_report(plan, metric)
            typer.echo(format_report(result))
            typer.echo(f"summary         {write_summary(plan, result, charts=True)}")
            return
        states = plan_status(plan)
        todo = [s for s in states["failed"] + states["pending"] if not only or s.arm in only]
        typer.echo(f"{plan.name}: {len(plan.runs())} runs ({len(plan.arms)} arms x {len(plan.seeds)} seeds), "
                   f"{len(states['finished'])} finished, {len(states['failed'])} failed before, "
                   f"{len(todo)} to run; results in {plan.results_dir}")
        _, dropped = environment_without_challenge_names()
        if dropped:
            typer.echo(f"ignoring environment: {', '.join(dropped)} (the ablation file is the only source of settings)")
        if dry_run:
            for spec in todo:
                typer.echo(shlex.join(plan.command(spec)))
            return
        bar = tqdm(total=len(todo), desc=plan.name, unit="run")

        def before(spec, previous, index, total):
            again = " (again; it failed before)" if previous else ""
            bar.set_postfix_str(f"{spec.arm} seed {spec.seed}{again}")

        def after(run):
            bar.update()
            line = (f"{run.arm} seed {run.seed}: {run.steps} steps, sliding {run.bpb['sliding_window']:.6f} BPB, "
                    f"{run.total_bytes:,} bytes" if run.ok else f"{run.arm} seed {run.seed}: FAILED: {run.error}")
            tqdm.write(f"{line} ({duration(run.wall_seconds)})")
            write_summary(plan, build_report(plan, metric), charts=False)

        # a kill of the runner stops the run in progress the way Ctrl-C does, instead of orphaning it
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            new = run_plan(plan, only=only, on_run=before, after_run=after)
        except KeyboardInterrupt:
            bar.close()
            typer.echo("interrupted: the run in progress was not recorded; run the same command to resume", err=True)
            raise typer.Exit(130) from None
        bar.close()
        write_summary(plan, build_report(plan, metric), charts=True)
        failed = [r for r in new if not r.ok]
        typer.echo(f"{len(new) - len(failed)} runs finished, {len(failed)} failed; "
                   f"`pgolf ablate {file} --report` for the table")
        if failed:
            raise typer.Exit(1)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command("ablate")(ablate_command)
