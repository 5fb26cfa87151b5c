"""The one base class for errors a user can fix, and how commands report them."""
from __future__ import annotations

import contextlib
import sys


class PgolfError(Exception):
    """Bad input or state, reported as one line and a non-zero exit, never a traceback."""


@contextlib.contextmanager
def exit_on_error():
    try:
        yield
    except PgolfError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        raise SystemExit(1) from None
