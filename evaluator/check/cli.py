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
from evaluator.check.compliance import ComplianceReport, compliance_report
from evaluator.check.findings import Status
from evaluator.check.triage import ERROR, TABLE_HEADER, summary_line, triage, write_triage
from evaluator.records.leader import leader_before, record_date
from evaluator.records.record import Record, RecordError, scan_records
from evaluator.records.terminal import fail, load_folder, render_seed_table, render_warnings, text_table

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


def _leader(record: Record, root: Path) -> Record:
    try:
        candidates = scan_records(root)
    except (RecordError, PgolfError) as exc:
        raise fail(f"--against-leader: {first_line(exc)}") from None
    leader = leader_before(record, candidates)
    if leader is None:
        raise fail(f"--against-leader: no scored record of track {record.track} dated before "
                   f"{record_date(record) or '(no date)'} under {root}")
    return leader


def check_command(
    record_dir: Path = typer.Argument(..., help="The record folder (records/<track>/<date>_<name>)."),
    against: Optional[Path] = typer.Option(None, "--against", help="A baseline record folder for the significance rules."),
    against_leader: Optional[Path] = typer.Option(None, "--against-leader", help="A folder of records (e.g. records/): the baseline is the best one of the same track dated before this record."),
    artifact: Optional[Path] = typer.Option(None, "--artifact", help="A .ptz to re-evaluate against the logged BPB and bytes."),
    data: Optional[Path] = typer.Option(None, "--data", help="With --artifact: folder of fineweb_val_*.bin (default: the artifact's config)."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="With --artifact: SentencePiece model (default: the artifact's config)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="With --artifact: score the first N validation targets; 0 = all (default: all on GPU, a prefix on CPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (with --all: JSON lines)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown summary for a pull request."),
    every: bool = typer.Option(False, "--all", help="Check every record folder under RECORD_DIR in one run: one row "
                               "per folder (status, headline, kind, seeds, worst bytes, claim, failing rules)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="With --all: also write the rows as CSV to this file."),
    jsonl_out: Optional[Path] = typer.Option(None, "--jsonl", help="With --all: also write the rows as JSON lines to this file."),
) -> None:
    """Check a record folder against the challenge's rules; exits 1 when any rule FAILs (with --all: any folder)."""
    if as_json and markdown:
        raise fail("choose one of --json and --markdown")
    if every:
        return _check_all(record_dir, csv_out, jsonl_out, as_json,
                          conflicting=bool(against or against_leader or artifact or markdown))
    if csv_out or jsonl_out:
        raise fail("--csv and --jsonl go with --all")
    if against and against_leader:
        raise fail("choose one of --against and --against-leader")
    if artifact is None and (data or tokenizer or max_tokens is not None):
        raise fail("--data, --tokenizer and --max-tokens go with --artifact")
    record = load_folder(record_dir)
    baseline = load_folder(against) if against else _leader(record, against_leader) if against_leader else None
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


def _check_all(root: Path, csv_out: Path | None, jsonl_out: Path | None, as_json: bool, conflicting: bool) -> None:
    if conflicting:
        raise fail("--all goes with --json, --csv and --jsonl only")
    try:
        result = triage(root, progress=True)
        write_triage(result, csv_out, jsonl_out)
    except PgolfError as exc:
        raise fail(first_line(exc)) from None
    if as_json:
        typer.echo(result.to_jsonl(), nl=False)
    else:
        typer.echo(text_table(TABLE_HEADER, [row.cells() for row in result.rows]) if result.rows else "(no record folders)")
        typer.echo(summary_line(result))
    if any(row.status in (Status.FAIL, ERROR) for row in result.rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
