"""Where `pgolf eval` writes an artifact's report unless told otherwise: beside it, as NAME.eval.json (the demo
and the ablation runner read it there)."""
from __future__ import annotations

from pathlib import Path


def evaluation_report(artifact: str | Path) -> Path:
    return Path(artifact).with_suffix(".eval.json")
