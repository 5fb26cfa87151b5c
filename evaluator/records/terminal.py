"""What the record commands (`pgolf seeds`, `check`, `record`) share on the terminal: one line to stderr and exit 2 on
bad input, a record folder loaded under that rule, and the plain-text tables they print."""
from __future__ import annotations

from pathlib import Path

import typer

from crawler.errors import PgolfError
from evaluator.records.record import Record, RecordError, load_record, records_inside
from evaluator.records.seeds import SeedTable

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
