"""Typed reports read back from JSON: pydantic checks the data against the dataclass, and the first thing wrong
is one line that names the field."""
from __future__ import annotations

from functools import cache
from typing import TypeVar

T = TypeVar("T")


@cache
def _adapter(cls: type):
    # imported here: scoring and training never read a report back, and the GPU check's device has no pydantic
    from pydantic import TypeAdapter
    return TypeAdapter(cls)


def from_json_data(cls: type[T], data: object, what: str) -> T:
    from pydantic import ValidationError
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the top level"
        raise ValueError(f"not {what} ({where}: {error['msg'].lower()})") from None
