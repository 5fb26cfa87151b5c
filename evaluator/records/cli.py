"""`pgolf seeds`: a record's per-seed table.

Bad input prints one line to stderr and exits 2 (as `pgolf check`, which exits 1 when a rule FAILs).
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from evaluator.records.seeds import seed_table
from evaluator.records.terminal import load_folder, render_seed_table, render_warnings


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


def register(app: typer.Typer) -> None:
    app.command("seeds")(seeds_command)
