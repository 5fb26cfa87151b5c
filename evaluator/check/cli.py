"""`pgolf check`: the pre-PR checker on the command line.

Bad input prints one line to stderr and exits 2; `check` exits 1 when any rule FAILs.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Optional

import typer

from crawler.errors import PgolfError, first_line
from evaluator.check import ComplianceReport, Status, compliance_report
from evaluator.records.cli import fail, load_folder, render_seed_table, render_warnings, text_table

_WRAP = 110


def render_report(report: ComplianceReport) -> str:
    lines = [f"Compliance: {report.record}" + (f"  (baseline: {report.against})" if report.against else ""), ""]
    lines.append(text_table(["Rule", "Status", "Summary"], [[r.title, r.status.value, r.summary] for r in report.rows]))
    lines += ["", f"Overall: {report.status}", ""]
    for row in report.rows:
        lines.append(f"[{row.status}] {row.title}: {row.summary}")
        lines += textwrap.wrap(f"reading: {row.reading}", _WRAP, initial_indent="    ", subsequent_indent="      ")
        for item in row.evidence:
            text = item.text + (f"  [{item.where}]" if item.where else "")
            lines += textwrap.wrap(text, _WRAP, initial_indent="    - ", subsequent_indent="      ")
        lines.append("")
    lines += [render_seed_table(report.seed_table)]
    return "\n".join(lines)


def _evaluate(artifact: Path, data: Path | None, tokenizer: Path | None, max_tokens: int | None):
    # imported here: the evaluator loads torch and the model, which the other rules never need
    from evaluator.artifacts.eval_report import evaluate_artifact
    if not artifact.is_file():
        raise fail(f"{artifact}: not a regular file" if artifact.exists() else f"{artifact}: no such artifact")
    try:
        return evaluate_artifact(artifact, data_path=data, tokenizer_path=tokenizer, max_tokens=max_tokens)
    except (PgolfError, OSError, ValueError) as exc:
        raise fail(f"{artifact}: cannot evaluate ({first_line(exc)})") from None


def check_command(
    record_dir: Path = typer.Argument(..., help="The record folder (records/<track>/<date>_<name>)."),
    against: Optional[Path] = typer.Option(None, "--against", help="A baseline record folder for the significance rule."),
    artifact: Optional[Path] = typer.Option(None, "--artifact", help="A .ptz to re-evaluate against the logged BPB and bytes."),
    data: Optional[Path] = typer.Option(None, "--data", help="With --artifact: folder of fineweb_val_*.bin (default: the artifact's config)."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="With --artifact: SentencePiece model (default: the artifact's config)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="With --artifact: score the first N validation targets; 0 = all (default: all on GPU, a prefix on CPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown summary for a pull request."),
) -> None:
    """Check a record folder against the challenge's rules; exits 1 when any rule FAILs."""
    if as_json and markdown:
        raise fail("choose one of --json and --markdown")
    if artifact is None and (data or tokenizer or max_tokens is not None):
        raise fail("--data, --tokenizer and --max-tokens go with --artifact")
    record = load_folder(record_dir)
    baseline = load_folder(against) if against else None
    evaluation = _evaluate(artifact, data, tokenizer, max_tokens) if artifact else None
    report = compliance_report(record, baseline, evaluation)
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "reader_warnings": record.warnings}, indent=2))
    elif markdown:
        typer.echo(report.to_markdown())
    else:
        typer.echo("\n".join(part for part in (render_report(report), render_warnings(record)) if part))
    if report.status is Status.FAIL:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
