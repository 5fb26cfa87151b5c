"""`pgolf check`, `pgolf seeds` and `pgolf record`: the records reader and pre-PR checker on the command line.

Bad input prints one line to stderr and exits 2; `check` exits 1 when any rule FAILs.
"""
from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path
from typing import Optional

import typer

from crawler.errors import PgolfError, first_line
from evaluator.check import ComplianceReport, Status, compliance_report
from evaluator.record_writer import RecordMeta, RecordWriteError, code_spec, write_record
from evaluator.records.record import Record, RecordError, load_record
from evaluator.records.seeds import SeedTable, seed_table
from evaluator.records.submission import parse_date

EXIT_BAD_INPUT = 2
_WRAP = 110


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path) -> Record:
    try:
        record = load_record(path)
    except (RecordError, PgolfError) as exc:  # PgolfError: a file refused while it was being read
        raise _fail(str(exc)) from None
    if not (record.readme_file or record.submission_file or record.logs or record.ignored_logs or record.refused):
        raise _fail(f"{path}: no README.md, submission*.json or train log: not a record folder")
    return record


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def render_report(report: ComplianceReport) -> str:
    lines = [f"Compliance: {report.record}" + (f"  (baseline: {report.against})" if report.against else ""), ""]
    lines.append(_table(["Rule", "Status", "Summary"], [[r.title, r.status.value, r.summary] for r in report.rows]))
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


def render_seed_table(table: SeedTable) -> str:
    headline = table.headline_kind.value if table.headline_kind else "none"
    lines = [f"Seeds of {table.record} (headline: {headline}; {table.headline_reason})", ""]
    header, body = table.grid()
    lines.append(_table(header, [[cell.text for cell in row] for row in body]) if body
                 else "(no train log with a final metric)")
    lines += ["", table.summary_line()]
    lines += [line for line in [table.worst_size_line()] if line]
    lines += [f"note: {n}" for n in table.notes]
    return "\n".join(lines)


def _evaluate(artifact: Path, data: Path | None, tokenizer: Path | None, max_tokens: int | None):
    # imported here: the evaluator loads torch and the model, which the other rules never need
    from evaluator.artifact_eval import evaluate_artifact
    if not artifact.is_file():
        raise _fail(f"{artifact}: not a regular file" if artifact.exists() else f"{artifact}: no such artifact")
    try:
        return evaluate_artifact(artifact, data_path=data, tokenizer_path=tokenizer, max_tokens=max_tokens)
    except (PgolfError, OSError, ValueError) as exc:
        raise _fail(f"{artifact}: cannot evaluate ({first_line(exc)})") from None


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
        raise _fail("choose one of --json and --markdown")
    if artifact is None and (data or tokenizer or max_tokens is not None):
        raise _fail("--data, --tokenizer and --max-tokens go with --artifact")
    record = _load(record_dir)
    baseline = _load(against) if against else None
    evaluation = _evaluate(artifact, data, tokenizer, max_tokens) if artifact else None
    report = compliance_report(record, baseline, evaluation)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    elif markdown:
        typer.echo(report.to_markdown())
    else:
        typer.echo(render_report(report))
    if report.status is Status.FAIL:
        raise typer.Exit(1)


def seeds_command(
    record_dir: Path = typer.Argument(..., help="The record folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Print a record's per-seed table: BPB by metric kind, steps, times, sizes, and mean / std / min / max."""
    table = seed_table(_load(record_dir))
    typer.echo(json.dumps(table.to_dict(), indent=2) if as_json else render_seed_table(table))


def record_command(
    runs: list[Path] = typer.Argument(..., help="Run folders, each with train.log and one .ptz artifact."),
    name: str = typer.Option(..., "--name", help="Record name; the folder is <date>_<name>."),
    author: str = typer.Option(..., "--author"),
    github_id: str = typer.Option(..., "--github-id"),
    blurb: str = typer.Option(..., "--blurb", help="One paragraph on what the record does."),
    code: list[Path] = typer.Option(..., "--code", help="A code file to ship (repeat; in the order the run counted "
                                    "them). Relative paths keep their place in the record; one must be train_gpt.py."),
    out: Path = typer.Option(Path("records/track_10min_16mb"), "--out", help="The track folder to write into."),
    record_date: str = typer.Option(date.today().isoformat(), "--date", help="Record date (YYYY-MM-DD)."),
    architecture: str = typer.Option("", "--architecture", help="Architecture paragraph for the README."),
) -> None:
    """Turn training runs into a record folder (README.md, submission.json, logs, code), then check it."""
    parsed = parse_date(record_date)
    if parsed is None:
        raise _fail(f"--date {record_date!r} is not a date")
    try:
        specs = [code_spec(path, Path.cwd()) for path in code]
        folder = write_record(runs, out, RecordMeta(name, author, github_id, blurb, parsed, architecture), specs)
    except RecordWriteError as exc:
        raise _fail(str(exc)) from None
    report = compliance_report(load_record(folder))
    typer.echo(f"wrote {folder}")
    typer.echo(_table(["Rule", "Status", "Summary"], [[r.title, r.status.value, r.summary] for r in report.rows]))
    if report.status is Status.FAIL:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
    app.command("seeds")(seeds_command)
    app.command("record")(record_command)
