"""The one base class for errors a user can fix, and how commands report them."""
from __future__ import annotations

import contextlib
import sys


class PgolfError(Exception):
    """Bad input or state, reported as one line and a non-zero exit, never a traceback."""


class ArtifactError(PgolfError, ValueError):
    """A file that cannot be read or written as an artifact; the message is one line naming the file."""


def first_line(e: BaseException, limit: int | None = None) -> str:
    """The first line of an error's message, or its class name when it has none: what one-line reports show."""
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:limit]


@contextlib.contextmanager
def exit_on_error():
    try:
        yield
    except PgolfError as e:
        print(f"error: {first_line(e)}", file=sys.stderr)
        raise SystemExit(1) from None
