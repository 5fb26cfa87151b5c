"""One file of a record's folder as numbered lines, each with an anchor (#L123), for the evidence links.

Only a regular file that the record's own listing holds is shown: the name must be one of the folder's files as
walked without following symlinks, and it is opened with O_NOFOLLOW, so neither `..`, an absolute path, nor a
symlink swapped in later reaches outside the folder. What is shown is capped, with a visible note when cut.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from evaluator.service import CatalogEntry, RecordFileError, list_files, read_capped

MAX_BYTES = 2 * 1024 * 1024
MAX_LINES = 20_000


class LogViewError(ValueError):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class LogView(BaseModel):
    record: str
    file: str
    size: int = Field(description="bytes in the whole file")
    lines: list[str]
    truncated: str = Field("", description="set when only part of the file is shown, and says how much")


def log_view(entry: CatalogEntry, name: str) -> LogView:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(part in ("..", ".") for part in parts) or "\\" in name:
        raise LogViewError(404, f"{name!r} is not a file of this record")
    folder = Path(entry.record.path)
    listing = list_files(folder)
    if name in listing.refused:
        raise LogViewError(403, f"{name}: {listing.refused[name]}")
    if name not in listing.files:
        raise LogViewError(404, f"{name!r} is not in this record's folder")
    try:
        capped = read_capped(folder / name, MAX_BYTES)
    except RecordFileError as exc:
        raise LogViewError(403, str(exc)) from None
    if b"\0" in capped.data[:8192]:
        raise LogViewError(415, f"{name} is not a text file")
    lines = capped.data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "" and not capped.truncated:
        lines.pop()  # the newline that ends the last line starts no new one
    note = ""
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        note = f"only the first {MAX_LINES:,} lines are shown"
    elif capped.truncated:
        note = f"only the first {len(capped.data):,} of {capped.size:,} bytes are shown"
    return LogView(record=entry.id, file=name, size=capped.size, lines=lines, truncated=note)
