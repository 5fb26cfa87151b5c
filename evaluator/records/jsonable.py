"""Turn the records' dataclasses into plain JSON values (for --json and the web app)."""
from __future__ import annotations

import dataclasses
import math
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Path, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, str):
        # logs are read with surrogateescape; make undecodable bytes visible instead of unencodable
        return value.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return value


class JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
