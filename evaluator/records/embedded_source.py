"""Find the training script that many logs print verbatim before the run output.

The challenge's train_gpt.py logs its own source and then a line of 100 '='; some forks print a
hyperparameter dump first, some logs are a console capture followed by the log file. The source
is the stretch that starts at the first line that can open a Python file (a docstring, a comment,
an import) and ends just before the next '=' separator. Because log0 writes the text plus one
newline, joining those lines with '\n' rebuilds the file byte for byte.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SEPARATOR = re.compile(r"^={40,}\s*$")
_PYTHON_OPENING = re.compile(r'^("""|\'\'\'|"[^"]|#!|# |import \w|from [\w.]+ import )')
_PYTHON_MARKER = re.compile(r"^(import \w|from [\w.]+ import |def \w|class \w)")
_MIN_MARKERS = 3


@dataclass(frozen=True)
class EmbeddedSource:
    first_line: int  # 1-based, inclusive
    last_line: int  # 1-based, inclusive
    n_bytes: int
    sha256: str
    # of the text with trailing whitespace trimmed per line: tells "the same code, reformatted" from other code
    normalised_sha256: str

    def covers(self, line_number: int) -> bool:
        return self.first_line <= line_number <= self.last_line


def normalised_sha256(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    normal = "\n".join(line.rstrip() for line in lines).strip("\n")
    return hashlib.sha256(normal.encode("utf-8", errors="surrogateescape")).hexdigest()


def find_embedded_source(lines: list[str], offset: int = 0) -> tuple[EmbeddedSource, str] | None:
    """Locate the embedded source in a log split on '\\n' (lines of a file from line offset + 1 on); returns its
    span in the file and its exact text."""
    separators = [i for i, text in enumerate(lines) if _SEPARATOR.match(text)]
    region_start = 0
    for separator in separators:
        region = lines[region_start:separator]
        if sum(1 for text in region if _PYTHON_MARKER.match(text)) >= _MIN_MARKERS:
            opening = next((i for i, text in enumerate(region) if _PYTHON_OPENING.match(text)), None)
            if opening is not None:
                start = region_start + opening
                text = "\n".join(lines[start:separator])
                data = text.encode("utf-8", errors="surrogateescape")
                span = EmbeddedSource(offset + start + 1, offset + separator, len(data), hashlib.sha256(data).hexdigest(),
                                      normalised_sha256(text))
                return span, text
        region_start = separator + 1
    return None
