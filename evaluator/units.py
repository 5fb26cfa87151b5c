"""How durations read to a person: seconds, minutes or hours, whichever is short and exact enough."""
from __future__ import annotations


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
