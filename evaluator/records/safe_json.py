"""JSON from a record folder, parsed so that no content can crash what reads it.

Python's json accepts what the numbers in a record cannot be: `NaN`, `Infinity`, `1e400` (inf), an
integer of thousands of digits (which later code turns into a ValueError or an OverflowError), and
nesting deep enough to exhaust the recursion limit in every walker after it. Each is refused here
with one line naming the fault.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable

from crawler.errors import PgolfError

MAX_DEPTH = 32  # the records' own JSON nests 4 deep at most
MAX_DIGITS = 18  # any byte count, seed or step fits; more digits is not a number a record means


class JsonError(PgolfError):
    pass


class NumberError(ValueError):
    """A number in a record's text that no record means: too many digits or not finite."""


def parse_int(text: str) -> int:
    digits = text.lstrip("+-")
    if len(digits) > MAX_DIGITS:
        raise NumberError(f"an integer of {len(digits):,} digits")
    return int(text)


def finite_float(text: str, make: Callable[[str], float] = float) -> float:
    if len(text) > 64:
        raise NumberError(f"a number written with {len(text):,} characters")
    value = make(text)
    if not math.isfinite(value):
        raise NumberError(f"{text[:20]} is not a finite number")
    return value


def _reject_constant(name: str) -> Any:
    raise NumberError(f"{name} is not a finite number")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads(text: str, name: str, parse_float: Callable[[str], float] = float) -> Any:
    """Parse `text` (the file `name`); JsonError with one line on anything a record should not hold."""
    try:
        data = json.loads(text, parse_int=parse_int, parse_constant=_reject_constant,
                          parse_float=lambda t: finite_float(t, parse_float))
    except json.JSONDecodeError as exc:
        raise JsonError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except NumberError as exc:
        raise JsonError(f"{name}: {exc}") from None
    except RecursionError:
        raise JsonError(f"{name}: nested deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise JsonError(f"{name}: nested deeper than {MAX_DEPTH} levels")
    return data
