"""Writing a file so that a crash never leaves a half-written one under the real name."""
from __future__ import annotations

import os
from pathlib import Path

from crawler.errors import PgolfError


class WriteError(PgolfError):
    pass


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write through PATH.tmp and rename; a failed write (a full disk) is one line and leaves no PATH.tmp."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
