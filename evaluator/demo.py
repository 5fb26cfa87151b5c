"""`pgolf demo`: the whole job on the embedded default corpus, on CPU, in a few minutes.

prepare the default corpus -> train the `tiny` crawler under its wallclock cap -> export and
reload the int6 artifact -> evaluate it on the whole validation split -> write a record folder in
the challenge's layout and check it.
"""
from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from crawler.config import load_config
from crawler.contract import RUN_ARTIFACT, RUN_LOG
from crawler.errors import exit_on_error
from crawler.files import atomic_write_text
from crawler.shipped import code_files
from evaluator.artifacts.cli import format_report
from evaluator.artifacts.paths import evaluation_report
from evaluator.check.compliance import compliance_report
from evaluator.records.record import load_record
from evaluator.records.writer import RecordMeta, code_spec, write_record

DEMO_BLURB = ("CPU demo of the Micro Crawler topology (2 flat + 1 shared block x3 + 2 flat) at tiny scale, "
              "trained on 2 CPU cores on the default Wikipedia corpus, NOT FineWeb: its BPB is not comparable "
              "with challenge records.")


def demo_command(
    out: Annotated[Path, typer.Option(help="Where the run and its record go.")] = Path("runs"),
    max_seconds: Annotated[Optional[float], typer.Option(help="Training wallclock cap (default: the tiny preset's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1337,
) -> None:
    """Prepare the default corpus, train the tiny crawler on CPU, evaluate it, write and check a record."""
    # numpy, sentencepiece and torch load here: `pgolf --help` and the text-only commands import this module
    from crawler.prep.prepare import prepare_corpus
    from crawler.train import train
    from evaluator.artifacts.eval_report import evaluate_artifact

    with exit_on_error():
        t0 = time.perf_counter()
        typer.echo("== 1/4 prepare the default corpus")
        typer.echo(prepare_corpus()[1])

        typer.echo("== 2/4 train the tiny crawler (CPU)")
        cfg = load_config("tiny", out_dir=str(out), run_id="demo", seed=seed, max_wallclock_seconds=max_seconds)
        result = train(cfg, progress=True)

        typer.echo("== 3/4 evaluate the artifact")
        artifact = result.run_dir / RUN_ARTIFACT
        report = evaluate_artifact(artifact, max_tokens=0, progress=True)
        eval_json = evaluation_report(artifact)
        atomic_write_text(eval_json, json.dumps(report.to_dict(), indent=1) + "\n")
        typer.echo(format_report(report))

        typer.echo("== 4/4 write and check a record")
        records_root = out / "records"
        shutil.rmtree(records_root, ignore_errors=True)
        meta = RecordMeta(name="MicroCrawler_tiny_CPU_wiki", author="pgolf demo", github_id="local",
                          blurb=DEMO_BLURB, date=date.today())
        folder = write_record([result.run_dir], records_root, meta, [code_spec(p, Path.cwd()) for p in code_files()])
        check = compliance_report(load_record(folder))
        typer.echo(f"record          {folder}  (compliance: {check.status.value})")
        typer.echo(f"train log       {result.run_dir / RUN_LOG}")
        typer.echo(f"eval report     {eval_json}")
        typer.echo(f"took            {time.perf_counter() - t0:.0f} s")
        typer.echo(f"browse          pgolf serve --records {out / 'records'} --eval-data {cfg.data_path}  "
                   "then open http://127.0.0.1:8000")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
