"""`pgolf record`: training runs turned into a record folder, then checked as `pgolf check` would.

It sits above records (which writes the folder) and check (which judges it). Bad input prints one line to stderr and
exits 2; a rule that FAILs exits 1.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from crawler.shipped import ENTRY_SCRIPT
from evaluator.check.compliance import compliance_report
from evaluator.check.findings import Status
from evaluator.records.record import load_record
from evaluator.records.submission import parse_date
from evaluator.records.terminal import fail, text_table
from evaluator.records.writer import RecordMeta, RecordWriteError, code_spec, write_record


def record_command(
    runs: list[Path] = typer.Argument(..., help="Run folders, each with train.log and one .ptz artifact."),
    name: str = typer.Option(..., "--name", help="Record name; the folder is <date>_<name>."),
    author: str = typer.Option(..., "--author"),
    github_id: str = typer.Option(..., "--github-id"),
    blurb: str = typer.Option(..., "--blurb", help="One paragraph on what the record does."),
    code: list[Path] = typer.Option(..., "--code", help="A code file to ship (repeat; in the order the run counted "
                                    f"them). Relative paths keep their place in the record; one must be {ENTRY_SCRIPT}."),
    out: Path = typer.Option(Path("records/track_10min_16mb"), "--out", help="The track folder to write into."),
    record_date: str = typer.Option(date.today().isoformat(), "--date", help="Record date (YYYY-MM-DD)."),
    architecture: str = typer.Option("", "--architecture", help="Architecture paragraph for the README."),
) -> None:
    """Turn training runs into a record folder (README.md, submission.json, logs, code), then check it."""
    parsed = parse_date(record_date)
    if parsed is None:
        raise fail(f"--date {record_date!r} is not a date")
    try:
        specs = [code_spec(path, Path.cwd()) for path in code]
        folder = write_record(runs, out, RecordMeta(name, author, github_id, blurb, parsed, architecture), specs)
    except RecordWriteError as exc:
        raise fail(str(exc)) from None
    report = compliance_report(load_record(folder))
    typer.echo(f"wrote {folder}")
    typer.echo(text_table(["Rule", "Status", "Summary"], [[r.title, r.status.value, r.summary] for r in report.rows]))
    if report.status is Status.FAIL:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("record")(record_command)
