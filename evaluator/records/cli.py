"""`pgolf seeds` and `pgolf record`: a record's per-seed table, and training runs turned into a record folder.

Bad input prints one line to stderr and exits 2 (as `pgolf check`, which exits 1 when a rule FAILs).
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from crawler.errors import PgolfError
from crawler.shipped import ENTRY_SCRIPT
from evaluator.check import Status, compliance_report
from evaluator.records.record import Record, RecordError, load_record, records_inside
from evaluator.records.seeds import SeedTable, seed_table
from evaluator.records.submission import parse_date
from evaluator.records.writer import RecordMeta, RecordWriteError, code_spec, write_record

EXIT_BAD_INPUT = 2


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def load_folder(path: Path) -> Record:
    try:
        record = load_record(path)
    except (RecordError, PgolfError) as exc:  # PgolfError: a file refused while it was being read
        raise fail(str(exc)) from None
    if not (record.readme_file or record.submission_file or record.logs or record.ignored_logs or record.refused) \
            and (inside := records_inside(path)):
        raise fail(f"{path}: holds {len(inside)} record folder(s), not one: check them all with `pgolf check {path} --all`")
    return record


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def render_seed_table(table: SeedTable) -> str:
    headline = table.headline_kind.value if table.headline_kind else "none"
    lines = [f"Seeds of {table.record} (headline: {headline}; {table.headline_reason})", ""]
    header, body = table.grid()
    lines.append(text_table(header, [[cell.text for cell in row] for row in body]) if body
                 else "(no train log with a final metric)")
    lines += ["", table.summary_line()]
    lines += [line for line in [table.worst_size_line()] if line]
    lines += [f"note: {n}" for n in table.notes]
    return "\n".join(lines)


def render_warnings(record: Record) -> str:
    """What the reader could not read as it was (a log truncated at its cap, lines too long to interpret...), as the
    web app's record page shows it; empty when it read everything."""
    return "\n".join(f"warning: {warning}" for warning in record.warnings)


def seeds_command(
    record_dir: Path = typer.Argument(..., help="The record folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Print a record's per-seed table: BPB by metric kind, steps, times, sizes, and mean / std / min / max."""
    record = load_folder(record_dir)
    table = seed_table(record)
    if as_json:
        typer.echo(json.dumps({**table.to_dict(), "reader_warnings": record.warnings}, indent=2))
    else:
        typer.echo("\n".join(part for part in (render_seed_table(table), render_warnings(record)) if part))


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
    app.command("seeds")(seeds_command)
    app.command("record")(record_command)
